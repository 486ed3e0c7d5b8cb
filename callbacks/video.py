"""Evaluation rollouts to MP4: recorded on the evaluation EnvRunner, written by the algorithm.

The evaluation EnvRunner renders the env's full-resolution frame (the game picture, not the
agent's observation) for the first K episodes of each evaluation round and streams the
frames into an H.264 encoder, so memory does not grow with episode length. The finished
MP4 travels back as bytes through RLlib's metrics, which also works when that EnvRunner
lives on another node; the algorithm side writes it into the trial directory as
``videos/iter_000012_ep0_return_500.mp4`` and puts its path and return in the results
(``evaluation/video/path``, ``evaluation/video/return``). No bytes reach result.json.

A failure to render or encode is a warning, counted in the results, never a failed trial.
"""

from __future__ import annotations

import logging
import os
import tempfile
import weakref
from typing import Any

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, EVALUATION_RESULTS

from callbacks import virtual_display

logger = logging.getLogger(__name__)

DEFAULT_FPS = 30
CLIPS = "video_clips"  # per-episode dicts with the MP4 bytes, consumed on the algorithm side
WARNINGS = "video_warnings"  # warning texts, consumed on the algorithm side


class Mp4Stream:
    """Frames in, H.264/yuv420p MP4 out, encoded as they come (imageio-ffmpeg).

    Each frame is converted to yuv420p here (OpenCV, ~0.08 ms for 600x400) and written into
    ffmpeg's pipe, widened to 1 MiB so that a few frames wait there while ffmpeg encodes on
    the other core; memory stays flat however long the episode. ffmpeg's own RGB conversion
    cost it more than the encoding itself (0.33 s of CPU for a 500-frame CartPole episode,
    against 0.16 s with yuv420p in), and yuv420p is half the bytes. No feeder thread: its
    turns at the GIL slowed the env's own rendering from 0.11 to 0.19 s an episode, more
    than writing here costs (a 500-frame CartPole video 0.35-0.49 s with the thread,
    0.30-0.37 s without, 4 alternating runs each).
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
            # core that renders (ffmpeg's CPU per CartPole video 0.29-0.44 s -> 0.27-0.32 s).
            output_params=["-crf", "23", "-preset", "ultrafast", "-threads", "1"],
            ffmpeg_log_level="error",
        )
        self._writer.send(None)  # start ffmpeg
        _widen_pipe(self._writer)
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
            _remove(self.path)

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # an encoder that already failed has nothing left to close
            pass
        _remove(self.path)


# Linux's F_SETPIPE_SZ. A pipe holds 64 KiB by default, so each CartPole frame (720 KB in
# RGB, 360 KB in yuv420p) took many wake-ups of writer and ffmpeg; at the limit unprivileged
# processes may ask for (/proc/sys/fs/pipe-max-size, 1 MiB by default), a frame goes in one
# write and a few wait there while ffmpeg encodes. Measured with a Python loop that sends
# 500 RGB frames: +0.45 s of the loop's time with 64 KiB, +0.1 s with 1 MiB
# (benchmarks/RESULTS.md).
_F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20


def _widen_pipe(writer: Any) -> None:
    """Enlarge the pipe into imageio-ffmpeg's ffmpeg process, where the OS allows it."""
    try:
        import fcntl

        process = writer.gi_frame.f_locals["p"]  # write_frames' own Popen, once started
        fcntl.fcntl(process.stdin.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
    except Exception:  # not Linux, a limit below 1 MiB, another imageio-ffmpeg: as it was
        pass


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


# Envs drawn with pygame (gymnasium's classic control) whose frame we read straight from the
# pygame surface: unwrapped env -> whether that reads the same frame as render() does.
_SURFACE_READS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _surface_frame(env: Any) -> np.ndarray:
    """Draw a pygame-rendered env and return its surface's pixels as they lie in memory:
    (H, W, 4), bytes B, G, R and one unused (pygame's 32-bit layout on little-endian).

    gymnasium's classic-control envs end ``render()`` with a numpy copy of the transposed
    surface that costs ~1 ms of CartPole's 1.3 ms a frame (600x400); with a render mode that
    is neither "human" nor "rgb_array" they only draw (~0.2 ms), and a copy of the surface's
    buffer takes ~0.02 ms (pygame's ``tobytes`` to RGB took 0.27 ms). The encoder converts
    this layout to yuv420p as cheaply as RGB.
    """
    mode = env.render_mode
    env.render_mode = "draw-only"
    try:
        env.render()
    finally:
        env.render_mode = mode
    width, height = env.screen.get_size()
    return np.frombuffer(env.screen.get_buffer().raw, np.uint8).reshape(height, width, 4)


def _render(env: Any) -> tuple[np.ndarray | None, str]:
    """``env.render()`` (layout "rgb"), or where it reads the same picture, the surface's
    pixels (layout "bgrx", see _surface_frame)."""
    base = env.unwrapped
    try:
        fast = _SURFACE_READS.get(base)
    except TypeError:  # an env that cannot be weakly referenced
        return env.render(), "rgb"
    if fast:
        return _surface_frame(base), "bgrx"
    frame = env.render()
    if fast is None:  # first frame of this env: use the surface only if it reads the same
        fast = False
        if frame is not None and getattr(base, "render_mode", None) == "rgb_array":
            if "pygame" in type(getattr(base, "screen", None)).__module__:
                try:
                    fast = bool(np.array_equal(as_rgb(_surface_frame(base), "bgrx"), frame))
                except Exception:  # another pixel format or row padding: reshape fails
                    fast = False
        _SURFACE_READS[base] = fast
    return frame, "rgb"


def video_frame(env: Any, env_index: int) -> tuple[np.ndarray, str]:
    """Sub-env ``env_index``'s frame of RLlib's (vectorised) env, as ``Mp4Stream.add``
    takes it: (pixels, layout), layout "rgb" or "bgrx"."""
    sub_envs = getattr(env, "envs", None)
    layout = "rgb"
    if sub_envs is not None:  # gymnasium SyncVectorEnv
        frame, layout = _render(sub_envs[env_index])
    elif hasattr(env, "call"):  # AsyncVectorEnv: each sub-env renders in its own process
        frame = env.call("render")[env_index]
    else:
        frame = env.render()
    if frame is None or np.ndim(frame) != 3:
        raise RuntimeError(
            "render() returned no RGB frame; build the env with render_mode='rgb_array'"
        )
    return np.asarray(frame), layout


def as_rgb(pixels: np.ndarray, layout: str) -> np.ndarray:
    """A frame from ``video_frame`` as (H, W, 3) RGB (a view, no copy)."""
    return pixels[..., 2::-1] if layout == "bgrx" else pixels


class EvalVideo(RLlibCallback):
    """Record the first ``episodes`` evaluation episodes of every evaluation round to MP4.

    ``virtual_display``: "auto" starts Xvfb in the rendering process when rendering fails
    for want of a display (no ``DISPLAY`` set), "always" starts it up front, "never" never.
    """

    def __init__(self, episodes: int = 1, virtual_display: str = "auto") -> None:
        super().__init__()
        self.episodes = episodes
        self.virtual_display = virtual_display
        self._streams: dict[str, tuple[int, Mp4Stream]] = {}  # episode id -> (index, encoder)
        self._started = 0  # recordings started in this evaluation round
        self._given_up: str | None = None  # why this process records no video at all

    # ---- evaluation EnvRunner side -------------------------------------------------------

    def on_episode_start(
        self,
        *,
        episode,
        env_runner=None,
        metrics_logger=None,
        env=None,
        env_index: int = 0,
        **kwargs: Any,
    ) -> None:
        if not (env_runner and env_runner.config.in_evaluation) or self._given_up:
            return
        if self._started >= self.episodes:
            return
        self._started += 1
        frame = self._render(env, env_index, metrics_logger)
        if frame is None:
            return
        height, width = frame[0].shape[:2]
        fps = (getattr(env, "metadata", None) or {}).get("render_fps") or DEFAULT_FPS
        handle, path = tempfile.mkstemp(suffix=".mp4", prefix="eval-video-")
        os.close(handle)
        try:
            stream = Mp4Stream(path, width, height, fps)
            stream.add(*frame)
        except Exception as err:
            _remove(path)
            self._warn(metrics_logger, f"cannot start the MP4 encoder: {err}")
            return
        self._streams[episode.id_] = (self._started - 1, stream)

    def on_episode_step(
        self, *, episode, env=None, env_index: int = 0, metrics_logger=None, **kwargs: Any
    ) -> None:
        if episode.id_ not in self._streams:
            return
        _, stream = self._streams[episode.id_]
        frame = self._render(env, env_index, metrics_logger)
        try:
            if frame is None:
                raise RuntimeError("rendering stopped mid-episode")
            stream.add(*frame)
        except Exception as err:
            self._streams.pop(episode.id_)[1].abort()
            self._warn(metrics_logger, f"recording stopped: {err}")

    def on_episode_end(
        self, *, episode, prev_episode_chunks=None, metrics_logger=None, **kwargs: Any
    ) -> None:
        if episode.id_ not in self._streams:
            return
        index, stream = self._streams.pop(episode.id_)
        try:
            mp4 = stream.finish()
        except Exception as err:
            self._warn(metrics_logger, f"encoding failed: {err}")
            return
        chunks = [episode, *(prev_episode_chunks or [])]
        clip = {
            "mp4": mp4,
            "episode": index,
            "return": float(sum(chunk.get_return() for chunk in chunks)),
            "length": int(sum(len(chunk) for chunk in chunks)),
            "frames": stream.frames,
            # Outside Ray (analysis replaying a checkpoint) asking would start or join a Ray.
            "node_id": ray.get_runtime_context().get_node_id() if ray.is_initialized() else "",
        }
        metrics_logger.log_value(CLIPS, clip, reduce="item_series")

    def on_sample_end(self, *, env_runner=None, metrics_logger=None, **kwargs: Any) -> None:
        if not (env_runner and env_runner.config.in_evaluation):
            return
        for index, stream in self._streams.values():  # other envs ended the round first
            stream.abort()
            self._warn(
                metrics_logger,
                f"episode {index} outlasted the evaluation round "
                "(other envs finished its episodes first); not recorded",
            )
        self._streams.clear()
        self._started = 0

    def _render(self, env: Any, env_index: int, metrics_logger) -> tuple[np.ndarray, str] | None:
        """(pixels, layout) of the env's frame, or None (warned) when it cannot be had."""
        if self.virtual_display == "always":
            self._need_display(metrics_logger)
        try:
            return video_frame(env, env_index)
        except Exception as err:
            # "auto": a render that fails without an X display gets one, then one more try.
            if not (self.virtual_display == "auto" and not os.environ.get("DISPLAY")):
                self._warn(metrics_logger, f"render failed: {err}")
                return None
        if not self._need_display(metrics_logger):
            return None
        try:
            return video_frame(env, env_index)
        except Exception as err:
            self._warn(metrics_logger, f"render failed in a virtual display: {err}")
            return None

    def _need_display(self, metrics_logger) -> bool:
        problem = virtual_display.ensure_virtual_display()
        if problem:
            self._given_up = problem
            self._warn(metrics_logger, problem)
        return problem is None

    def _warn(self, metrics_logger, message: str) -> None:
        logger.warning("evaluation video: %s", message)
        if metrics_logger is not None:
            metrics_logger.log_value(WARNINGS, message, reduce="item_series")

    # ---- algorithm side ------------------------------------------------------------------

    def on_train_result(self, *, algorithm, result: dict, **kwargs: Any) -> None:
        evaluation = result.get(EVALUATION_RESULTS)
        if not isinstance(evaluation, dict):
            return
        runner_results = evaluation.get(ENV_RUNNER_RESULTS, {})
        clips = _as_list(runner_results.pop(CLIPS, []))
        warnings = _as_list(runner_results.pop(WARNINGS, []))
        video: dict[str, Any] = {"warnings": len(warnings)}
        if warnings:
            video["last_warning"] = str(warnings[-1])
        iteration = result.get("training_iteration", 0)
        for clip in sorted(clips, key=lambda c: c["episode"]):
            name = f"iter_{iteration:06d}_ep{clip['episode']}_return_{clip['return']:.0f}.mp4"
            try:
                path = write_trial_file(algorithm, f"videos/{name}", clip["mp4"])
            except OSError as err:
                video["warnings"] += 1
                video["last_warning"] = f"cannot write {name}: {err}"
                logger.warning("evaluation video: cannot write %s: %s", name, err)
                continue
            if "path" not in video:
                video.update(
                    path=path,
                    episode_return=clip["return"],
                    length=clip["length"],
                    frames=clip["frames"],
                    node_id=clip["node_id"],
                )
            video["count"] = video.get("count", 0) + 1
        if clips or warnings:
            evaluation["video"] = video


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def write_trial_file(algorithm, relative: str, data: bytes) -> str:
    """Write ``data`` under the trial directory (local or remote storage); return its path."""
    storage = getattr(algorithm, "_storage", None)
    if storage is not None:  # running under Tune: write where Tune keeps this trial
        fs, trial = storage.storage_filesystem, storage.trial_fs_path
        path = f"{trial}/{relative}"
        fs.create_dir(os.path.dirname(path), recursive=True)
        with fs.open_output_stream(path) as out:
            out.write(data)
        kind = fs.type_name
        return os.path.abspath(path) if kind == "local" else f"{kind}://{path}"
    path = os.path.join(algorithm.logdir, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(data)
    return path
