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
from typing import Any

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, EVALUATION_RESULTS

from suite.patches import tune_trial_storage
from video import DEFAULT_FPS, Mp4Stream, virtual_display
from video.frames import video_frame
from video.mp4 import remove_file

logger = logging.getLogger(__name__)

CLIPS = "video_clips"  # per-episode dicts with the MP4 bytes, consumed on the algorithm side
WARNINGS = "video_warnings"  # warning texts, consumed on the algorithm side


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
            remove_file(path)
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
            if not virtual_display.needs_display(self.virtual_display):
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


def announced_video(result: dict) -> dict:
    """The ``evaluation/video`` entry ``EvalVideo.on_train_result`` put in a Tune result:
    ``path`` of the first MP4 written, its ``episode_return``, ``count``… ({} if none)."""
    return (result.get(EVALUATION_RESULTS) or {}).get("video") or {}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def write_trial_file(algorithm, relative: str, data: bytes) -> str:
    """Write ``data`` under the trial directory (local or remote storage); return its path."""
    storage = tune_trial_storage(algorithm)
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
