"""An MP4 encoder that takes frames as they come: memory does not grow with episode length."""

from __future__ import annotations

import os

import numpy as np

from suite.patches import widen_ffmpeg_pipe

DEFAULT_FPS = 30


class Mp4Stream:
    """Frames in, H.264/yuv420p MP4 out, encoded as they come (imageio-ffmpeg).

    Each frame is converted to yuv420p here (OpenCV) and written into ffmpeg's pipe, widened
    so that a few frames wait there while ffmpeg encodes on the other core; memory stays flat
    however long the episode. yuv420p in: ffmpeg's own RGB conversion cost it more than the
    encoding, and it is half the bytes. No feeder thread: its turns at the GIL slowed the
    env's own rendering more than writing here costs (benchmarks/RESULTS.md, "Video").
    """

    def __init__(self, path: str, width: int, height: int, fps: float) -> None:
        import imageio_ffmpeg

        self.path = path
        self.size = (width + width % 2, height + height % 2)  # yuv420p needs even sides
        self.frames = 0
        self._writer = imageio_ffmpeg.write_frames(
            path,
            self.size,
            fps=fps,
            codec="libx264",
            pix_fmt_in="yuv420p",
            pix_fmt_out="yuv420p",
            macro_block_size=1,  # keep the env's own frame size (even sides suffice)
            quality=None,
            # One x264 thread: on 2 cores its default three contended with the env for the
            # core that renders (benchmarks/RESULTS.md, "Video").
            output_params=["-crf", "23", "-preset", "ultrafast", "-threads", "1"],
            ffmpeg_log_level="error",
        )
        self._writer.send(None)  # start ffmpeg
        widen_ffmpeg_pipe(self._writer)
        self._error: BaseException | None = None

    def add(self, frame: np.ndarray, layout: str = "rgb") -> None:
        """Encode an (H, W, 3) RGB frame (RGBA is cut to RGB), or with ``layout="bgrx"`` an
        (H, W, 4) one in pygame's 32-bit B, G, R, unused byte order."""
        import cv2

        if self._error is not None:
            raise RuntimeError(f"encoder failed: {self._error}")
        if layout == "bgrx":
            pixels, conversion = np.ascontiguousarray(frame, np.uint8), cv2.COLOR_BGRA2YUV_I420
        else:
            pixels = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
            conversion = cv2.COLOR_RGB2YUV_I420
        height, width = pixels.shape[:2]
        if (width, height) != self.size:  # odd sides: pad by one black pixel
            pixels = np.pad(pixels, ((0, self.size[1] - height), (0, self.size[0] - width), (0, 0)))
        try:
            self._writer.send(cv2.cvtColor(pixels, conversion))
        except BaseException as err:  # ffmpeg gone: this frame and every later one fail
            self._error = err
            raise RuntimeError(f"encoder failed: {err}") from None
        self.frames += 1

    def finish(self) -> bytes:
        """Close the encoder and return the MP4's bytes (the temporary file is removed)."""
        try:
            self._writer.close()
            if self._error is not None:
                raise RuntimeError(f"encoder failed: {self._error}")
            with open(self.path, "rb") as mp4:
                return mp4.read()
        finally:
            remove_file(self.path)

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # an encoder that already failed has nothing left to close
            pass
        remove_file(self.path)


def remove_file(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
