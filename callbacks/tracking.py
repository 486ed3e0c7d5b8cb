"""``--track wandb|mlflow``: each trial a run in Weights & Biases or MLflow, through Ray
Tune's own logger callbacks, plus what those do not send on their own:

- each evaluation MP4 when it is written (a ``wandb.Video``; an MLflow artifact in
  ``videos/``);
- the trial's varying config as the run's config/params, not RLlib's whole AlgorithmConfig;
- at the end, the best checkpoint's path and report.html (``log_outcome``);
- on ``--resume``, the same runs continue (W&B resumes its run id; MLflow finds the run by
  its ``trial_id`` tag).

Both log from the driver (W&B from a Ray actor Tune pins to the driver's node), so on a
cluster the videos reach them as they reach the trial directory. A tracking tool that fails
(an unreachable server) is reported in one line and dropped; training goes on.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.air.integrations.wandb import WandbLoggerCallback
from ray.tune.utils import flatten_dict

from callbacks.eval_video import announced_video
from callbacks.tracking_servers import wandb_offline
from suite.errors import UsageError
from suite.uris import is_remote

VIDEO_KEY = "mp4"  # logged as evaluation/video/mp4, beside evaluation/video/path's number keys


def trial_params(trial: Any, command: str) -> dict[str, Any]:
    """What a tracked run records as its config: the values a sweep varies (model keys by
    their own name, as in analysis' trials table), and the command."""
    varying = {
        key.removeprefix("_model_config/"): value
        for key, value in (trial.evaluated_params or {}).items()
    }
    return {**varying, "command": command}


def local_file(path: str) -> str:
    """``path`` itself, or for remote storage (``s3://…``) a local copy for the tool to read."""
    if not is_remote(path):
        return path
    import pyarrow.fs

    copy = Path(tempfile.mkdtemp(prefix="rayrl-track-"), Path(path).name)
    pyarrow.fs.copy_files(path, str(copy))
    return str(copy)


class WandbRuns(WandbLoggerCallback):
    """Tune's W&B callback: project ``project``, one run per trial (its id is the trial id,
    so ``--resume`` continues it), grouped by experiment; videos as ``wandb.Video``."""

    def __init__(self, project: str, group: str, command: str) -> None:
        super().__init__(
            project=os.environ.get("WANDB_PROJECT") or project,
            group=os.environ.get("WANDB_RUN_GROUP") or group,
            resume="allow",
            reinit="finish_previous",  # Ray's reinit=True is deprecated in wandb ≥ 0.19.10
            # Our own line says where the runs go; wandb's banner would repeat per trial.
            settings={"silent": True},
        )
        self.command = command

    def log_trial_start(self, trial: Any) -> None:
        self.kwargs["config"] = trial_params(trial, self.command)  # replaces trial.config
        if not is_remote(trial.path) and not os.environ.get("WANDB_DIR"):
            # Straight into the trial directory: Tune would otherwise copy the run's files
            # there from its staging directory, possibly before wandb has finished them.
            os.makedirs(trial.path, exist_ok=True)
            self.kwargs["dir"] = trial.path
        super().log_trial_start(trial)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        # Trials stopped by Ctrl-C or SIGTERM get no log_trial_end, so their logging actors
        # would never finish and Tune would wait for them up to upload_timeout (30 min).
        for trial in list(self._trial_queues):
            self._signal_logging_actor_stop(trial)
        super().on_experiment_end(trials, **info)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        video = announced_video(result)
        if video.get("path"):
            import wandb

            video = {**video, VIDEO_KEY: wandb.Video(local_file(video["path"]))}
            result = {**result, "evaluation": {**result["evaluation"], "video": video}}
        super().log_trial_result(iteration, trial, result)


class MlflowRuns(MLflowLoggerCallback):
    """Tune's MLflow callback: experiment ``experiment``, one run per trial tagged with its
    ``trial_id`` (found again on ``--resume``); videos as artifacts in ``videos/``."""

    def __init__(self, tracking_uri: str, experiment: str, command: str) -> None:
        tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking_uri
        if tracking_uri.startswith("file:") or "://" not in tracking_uri:
            # MLflow ≥ 3.7 refuses its file store unless asked: a local store needs no server.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        super().__init__(
            tracking_uri=tracking_uri,
            experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment,
        )
        self.command = command
        self.failed: str | None = None

    def _guarded(self, what: str, call: Callable[[], Any]) -> None:
        if self.failed:
            return
        try:
            call()
        except Exception as err:  # a tracking server's trouble must not stop training
            self.failed = f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
            print(
                f"tracking: MLflow at {self.tracking_uri} failed while {what} "
                f"({self.failed[:200]}); training goes on without it",
                flush=True,
            )

    def setup(self, *args: Any, **kwargs: Any) -> None:
        self._trial_runs = {}
        self._guarded("starting", self._artifacts_beside_the_database)
        self._guarded("starting", lambda: super(MlflowRuns, self).setup(*args, **kwargs))

    def _artifacts_beside_the_database(self) -> None:
        """A sqlite store keeps no files: its experiment's artifacts (videos, the report) go
        to ``mlartifacts/`` beside the database, not to ``./mlruns`` wherever one runs."""
        database = sqlite_path(self.tracking_uri)
        if database is None:
            return
        import mlflow

        client = mlflow.MlflowClient(self.tracking_uri)
        if client.get_experiment_by_name(self.experiment_name) is None:
            artifacts = (database.parent / "mlartifacts" / self.experiment_name).as_uri()
            client.create_experiment(self.experiment_name, artifact_location=artifacts)

    def log_trial_start(self, trial: Any) -> None:
        self._guarded("starting a run", lambda: self._start_run(trial))

    def run_of(self, trial_id: str) -> str | None:
        """The id of the run tagged with ``trial_id`` in this experiment, if there is one."""
        found = self.mlflow_util._get_client().search_runs(
            [self.mlflow_util.experiment_id],
            filter_string=f"tags.trial_id = '{trial_id}'",
            max_results=1,
        )
        return found[0].info.run_id if found else None

    def _start_run(self, trial: Any) -> None:
        if trial in self._trial_runs:
            return
        found = self.run_of(trial.trial_id)
        if found:  # --resume: the trial's run goes on
            self._trial_runs[trial] = found
            return
        tags = {**(self.tags or {}), "trial_name": str(trial), "trial_id": trial.trial_id}
        run = self.mlflow_util.start_run(tags=tags, run_name=str(trial))
        self._trial_runs[trial] = run.info.run_id
        self.mlflow_util.log_params(
            run_id=run.info.run_id, params_to_log=trial_params(trial, self.command)
        )

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._trial_runs:
            self.log_trial_start(trial)
        # One log_batch per result: Ray's callback logs each of RLlib's ~200 metrics in a
        # call of its own, which made a CartPole run 37 % slower on the file store.
        run_id = self._trial_runs.get(trial)
        if not run_id:
            return
        metrics = mlflow_metrics(result)
        self._guarded(
            "logging metrics",
            lambda: self.mlflow_util._get_client().log_batch(run_id, metrics=metrics),
        )
        path = announced_video(result).get("path")
        if path:
            self._guarded(
                "logging a video",
                lambda: self.mlflow_util._get_client().log_artifact(
                    run_id, local_file(path), "videos"
                ),
            )

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        if trial in self._trial_runs:
            self._guarded(
                "ending a run", lambda: super(MlflowRuns, self).log_trial_end(trial, failed)
            )


def mlflow_metrics(result: dict) -> list[Any]:
    """A Tune result's numbers as MLflow metrics, at step = the training iteration."""
    from mlflow.entities import Metric

    step = int(result.get("training_iteration") or 0)
    now = int(time.time() * 1000)
    metrics = []
    for key, value in flatten_dict(result, delimiter="/").items():
        if isinstance(value, (bool, str)) or key.startswith("config/"):
            continue
        try:
            metrics.append(Metric(key, float(value), now, step))
        except (TypeError, ValueError):
            continue
    return metrics


def callbacks(tools: list[str], *, script: str, name: str, storage: str, command: str) -> list[Any]:
    """Tune callbacks for ``--track``; prints where each tool's runs go."""
    made: list[Any] = []
    for tool in dict.fromkeys(tools):
        if tool == "wandb":
            made.append(WandbRuns(project=script, group=name, command=command))
            mode = " (offline: upload with wandb sync)" if wandb_offline() else ""
            print(f"tracking: W&B project {made[-1].project}, group {made[-1].group}{mode}")
        else:
            made.append(MlflowRuns(mlflow_uri(storage), name, command))
            uri = made[-1].tracking_uri
            print(f"tracking: MLflow experiment {made[-1].experiment_name} at {uri}")
            if not uri.startswith("http"):
                print(f"tracking: open it with: mlflow ui --backend-store-uri {uri}")
    return made


def mlflow_uri(storage: str) -> str:
    """The default MLflow store, the one MLflow recommends since its file store went into
    maintenance (3.7): a sqlite database ``mlflow.db`` beside the experiments in
    ``--storage``. ``MLFLOW_TRACKING_URI`` (a server, or a ``file:`` store) overrides it."""
    if is_remote(storage) and not os.environ.get("MLFLOW_TRACKING_URI"):
        raise UsageError(
            "--track mlflow with a remote --storage: set MLFLOW_TRACKING_URI to your MLflow "
            "server (its database must be local)"
        )
    return f"sqlite:///{Path(storage, 'mlflow.db').resolve()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def log_outcome(tracked: list[Any], trial_id: str, checkpoint: str, report: Path) -> None:
    """Add the best checkpoint's path and report.html to the best trial's run in each tool."""
    for callback in tracked:
        if isinstance(callback, WandbRuns):
            _wandb_outcome(callback, trial_id, checkpoint, report)
        elif isinstance(callback, MlflowRuns) and not callback.failed:
            _mlflow_outcome(callback, trial_id, checkpoint, report)


def _wandb_outcome(callback: WandbRuns, trial_id: str, checkpoint: str, report: Path) -> None:
    import wandb

    try:
        run = wandb.init(
            project=callback.project,
            group=callback.group,
            id=trial_id,
            resume="allow",
            dir=str(report.parent),
            settings={"silent": True},
        )
        run.summary["best_checkpoint"] = checkpoint
        artifact = wandb.Artifact(f"report-{trial_id}", type="report")
        artifact.add_file(str(report))
        run.log_artifact(artifact)
        run.finish()
    except Exception as err:
        print(f"tracking: W&B did not take the report ({type(err).__name__}: {err})")


def _mlflow_outcome(callback: MlflowRuns, trial_id: str, checkpoint: str, report: Path) -> None:
    def add() -> None:
        run_id = callback.run_of(trial_id)
        if run_id:
            client = callback.mlflow_util._get_client()
            client.set_tag(run_id, "best_checkpoint", checkpoint)
            client.log_artifact(run_id, str(report))

    callback._guarded("adding the report", add)
