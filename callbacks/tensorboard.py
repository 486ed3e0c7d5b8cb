"""Evaluation video paths in TensorBoard, as text next to Tune's scalars.

Tune's TensorBoard logger writes numbers only; the path of each evaluation video is a
string, so this Tune callback (it runs in the driver) adds it as a text summary at the same
step, in an events file of its own in the trial directory.
"""

from __future__ import annotations

from typing import Any

from ray.tune.logger import LoggerCallback

from callbacks.eval_video import announced_video

TAG = "ray/tune/evaluation/video/path"  # beside Tune's "ray/tune/evaluation/..." scalars


class VideoPathsToTensorBoard(LoggerCallback):
    """Log ``evaluation/video/path`` (and the episode's return) as TensorBoard text."""

    def __init__(self) -> None:
        self._writers: dict[Any, Any] = {}

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        video = announced_video(result)
        path = video.get("path")
        if not path:
            return
        if trial not in self._writers:
            from tensorboardX import SummaryWriter

            trial.init_local_path()
            self._writers[trial] = SummaryWriter(trial.local_path, filename_suffix=".videos")
        step = result.get("timesteps_total") or result["training_iteration"]
        text = f"{path} (return {video.get('episode_return', float('nan')):g})"
        self._writers[trial].add_text(TAG, text, global_step=step)
        self._writers[trial].flush()

    def log_trial_end(self, trial, failed: bool = False) -> None:
        writer = self._writers.pop(trial, None)
        if writer is not None:
            writer.close()
