"""The progression reel: a trial's evaluation videos over training, joined into one MP4.

Each segment carries a caption (iteration, timesteps, return), so one file shows how the
agent changed, instead of a folder of clips to open one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from video import DEFAULT_FPS, Mp4Stream

_NAME = re.compile(r"iter_(\d+)_ep(\d+)_return_(-?[\d.]+)\.mp4$")


@dataclass
class Clip:
    """One evaluation video, with what its file name and the results say about it."""

    path: Path
    iteration: int
    episode: int
    episode_return: float
    timesteps: int | None = None

    @property
    def caption(self) -> str:
        steps = f"   {self.timesteps:,} steps" if self.timesteps is not None else ""
        return f"iteration {self.iteration}{steps}   return {self.episode_return:g}"


def evaluation_clips(trial_dir: str | Path) -> list[Clip]:
    """The trial's evaluation videos, oldest first."""
    clips = []
    for path in Path(trial_dir, "videos").glob("iter_*.mp4"):
        match = _NAME.search(path.name)
        if match:
            iteration, episode, episode_return = match.groups()
            clips.append(Clip(path, int(iteration), int(episode), float(episode_return)))
    return sorted(clips, key=lambda clip: (clip.iteration, clip.episode))


def caption(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` with ``text`` on a dark band across its top."""
    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    scale = max(0.35, min(width, height) / 700)
    thickness = max(1, round(scale * 1.6))
    (_, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    band = text_h + baseline + 8
    frame[:band] = (frame[:band] * 0.35).astype(np.uint8)
    cv2.putText(
        frame,
        text,
        (6, band - baseline - 4),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return frame


def _frames(path: Path, size: tuple[int, int]):
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    width, height = meta["size"]
    for raw in reader:
        frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
        if (width, height) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST)
        yield frame.copy()


def progression_reel(clips: list[Clip], out: str | Path) -> Path | None:
    """Join ``clips`` into one captioned MP4 at ``out``; None when there is nothing to join."""
    if not clips:
        return None
    meta = next(imageio_ffmpeg.read_frames(str(clips[0].path)))
    size = tuple(meta["size"])
    fps = meta.get("fps") or DEFAULT_FPS
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stream = Mp4Stream(str(out.with_suffix(".part.mp4")), *size, fps)
    try:
        for clip in clips:
            for frame in _frames(clip.path, size):
                stream.add(caption(frame, clip.caption))
        data = stream.finish()
    except BaseException:
        stream.abort()
        raise
    out.write_bytes(data)
    return out
