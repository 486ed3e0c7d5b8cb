"""Before ``--resume``: bring a killed experiment's saved state up to its trial directories.

Tune saves an experiment's state (``experiment_state-*.json``) at most every 10 s, while the
trials go on writing results and checkpoints. A driver killed in between (SIGKILL, a lost
head node, a power cut) leaves a state that lags behind the trial directories, and
``Tuner.restore`` trusts the state:

- a checkpoint the state records may be gone (a newer one pushed it out of the best N):
  Tune then fails the trial ("Could not recover from checkpoint as it does not exist on
  storage anymore");
- checkpoints saved since are unknown to it: the trial restarts from an older one, runs
  those iterations again, and analysis never sees the newer checkpoints;
- a trial that finished since is still "running" in it: Tune restores it and runs it again;
- a trial that failed while saving a checkpoint keeps a pending STOP in it, which stops the
  resumed trial after one iteration.

A full disk leaves worse: Tune writes its state and each trial's results on the driver's
local disk first and then copies them to storage, so a copy cut short by the full disk holds
a torn JSON state, or a torn last line in result.json that the resumed trial's first row
would be appended to.

``reconcile(experiment)`` mends all of it in place from what is on disk (local storage only):
first ``finish_upload`` completes the cut copies from the driver's local ones, then each
trial's state; it returns one line per file or trial it changed.
"""

from __future__ import annotations

import json
import pickle
import shutil
from numbers import Number
from pathlib import Path
from typing import Any

from ray._common.utils import get_default_ray_temp_dir
from ray.train import Checkpoint
from ray.tune.result import DEBUG_METRICS
from ray.tune.utils import flatten_dict

from analysis.watch import read_results
from suite.errors import UsageError
from suite.patches import tune_bookkeeping

# A trial's checkpoint bookkeeping, Tune's private classes (listed in suite/patches.py).
TrainingRunMetadata, TrainingResult, insert_into_sorted_list = tune_bookkeeping()

ENDED = ("TERMINATED", "ERROR")


def reconcile(experiment: Path) -> list[str]:
    lines = finish_upload(experiment)
    for state_file in sorted(experiment.glob("experiment_state-*.json")):
        try:
            state = json.loads(state_file.read_text())
        except json.JSONDecodeError as err:  # cut short, e.g. by a full disk
            raise UsageError(
                f"{state_file} is damaged ({err}); Tune cannot resume this experiment, "
                "start a new one (its checkpoints are still there for python -m analysis)"
            ) from None
        changed = False
        for entry in state.get("trial_data", []):
            trial = json.loads(entry[0])
            line = _reconcile_trial(experiment, trial, entry)
            if line is not None:
                changed = True
            if line:
                lines.append(f"trial {trial.get('trial_id', '?')}: {line}")
        # Decisions the dead driver held for saves in flight: a trial that failed while saving
        # holds a STOP here, which Tune restores and applies after the resumed trial's first save.
        pending = state.get("runner_data", {})
        for key in ("_cached_trial_decisions", "_queued_trial_decisions"):
            if pending.get(key):
                pending[key] = {}
                changed = True
        if changed:
            tmp = state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            tmp.replace(state_file)
    return lines


def finish_upload(experiment: Path) -> list[str]:
    """Complete the files of ``experiment`` whose copy to storage was cut short, from the
    driver's local copy (Tune's driver staging directory in the Ray session that wrote them,
    on this machine); then cut any torn last line left in a trial's result.json or
    progress.csv, so that resumed rows start on a line of their own."""
    lines = []
    staging = _driver_staging(experiment)
    if staging is not None:
        for local in sorted(p for p in staging.rglob("*") if p.is_file()):
            stored = experiment / local.relative_to(staging)
            if _cut_short(stored, local):
                shutil.copyfile(local, stored)
                lines.append(f"{stored}: completed (its copy to storage was cut short)")
    for log in sorted([*experiment.glob("*/result.json"), *experiment.glob("*/progress.csv")]):
        data = log.read_bytes()
        if data and not data.endswith(b"\n"):
            log.write_bytes(data[: data.rfind(b"\n") + 1])
            lines.append(f"{log}: its torn last line removed (its iteration runs again)")
    return lines


def _driver_staging(experiment: Path) -> Path | None:
    """The newest driver staging directory on this machine that wrote ``experiment``'s
    newest state file, or None."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    if not states:
        return None
    candidates = Path(get_default_ray_temp_dir()).glob(
        f"session_*/artifacts/*/{experiment.name}/driver_artifacts/{states[-1].name}"
    )
    newest = max(candidates, key=lambda p: p.stat().st_mtime, default=None)
    return newest.parent if newest else None


def _cut_short(stored: Path, local: Path) -> bool:
    """Whether ``stored`` is a strict beginning of ``local``: a copy that stopped early."""
    if not stored.is_file() or stored.stat().st_size >= local.stat().st_size:
        return False
    with open(stored, "rb") as a, open(local, "rb") as b:
        part = a.read()
        return b.read(len(part)) == part


def _reconcile_trial(experiment: Path, trial: dict, entry: list) -> str | None:
    """Mend one trial's saved state (``entry``: its two JSON strings) and say what changed:
    None if nothing did, "" if only forgotten checkpoints that were not its latest."""
    metadata = TrainingRunMetadata.from_json_state(entry[1])
    manager = metadata.checkpoint_manager
    trial_dir = experiment / trial.get("relative_logdir", "")
    said = []

    latest = manager._latest_checkpoint_result
    kept = [r for r in manager._checkpoint_results if _exists(r, experiment)]
    lost = len(kept) < len(manager._checkpoint_results)
    lost_latest = latest is not None and not _exists(latest, experiment)
    # Checkpoints Tune deleted after the save are forgotten too: else it would try to delete
    # them again, and analysis could pick one as the best.
    manager._checkpoint_results = kept
    if lost_latest:
        said.append(
            f"its last recorded checkpoint {Path(latest.checkpoint.path).name} is gone "
            "(Tune deleted it after its last save)"
        )
        latest = None

    rows = read_results(trial_dir) if trial.get("status") not in ENDED else []
    found = _unrecorded_checkpoints(trial_dir, kept, rows)
    score = manager.checkpoint_config.checkpoint_score_attribute
    for result in found:  # as Tune's register_checkpoint() files them, deleting nothing
        if score in result.metrics:
            insert_into_sorted_list(kept, result, key=manager._get_checkpoint_score)
        else:
            kept.append(result)
    newest = max(
        [*kept, *([latest] if latest else [])],
        key=lambda r: r.metrics.get("training_iteration", 0),
        default=None,
    )
    if found:
        said.append(
            f"{len(found)} checkpoint(s) saved after Tune's last save recorded "
            f"({', '.join(Path(r.checkpoint.path).name for r in found)})"
        )
    manager._latest_checkpoint_result = newest
    if rows and rows[-1].get("done"):
        trial["status"] = "TERMINATED"
        entry[0] = json.dumps(trial, indent=2)
        _replay(metadata, trial, rows)
        said.append("it finished after Tune's last save; kept as finished, not run again")
    elif lost_latest or found:
        said.append(
            "resuming from " + (Path(newest.checkpoint.path).name if newest else "the start")
        )
    if not (said or lost):
        return None
    entry[1] = metadata.get_json_state()  # (cached by the object: build it once)
    return "; ".join(said)


def _replay(metadata: TrainingRunMetadata, trial: dict, rows: list[dict]) -> None:
    """Record the results Tune's state missed, as ``Trial.update_last_result`` does."""
    seen = metadata.last_result.get("training_iteration", 0)
    for row in rows:
        if row.get("training_iteration", 0) <= seen:
            continue
        if trial.get("experiment_tag"):
            row["experiment_tag"] = trial["experiment_tag"]
        metadata.last_result = row
        metadata.last_result_time = row.get("timestamp", metadata.last_result_time)
        metrics = {k: v for k, v in row.items() if k not in DEBUG_METRICS}
        for metric, value in flatten_dict(metrics).items():
            if isinstance(value, Number):
                metadata.update_metric(metric, value, step=row.get("training_iteration"))


def _exists(result: Any, experiment: Path) -> bool:
    # Where it is now: the state holds the path at save time, and the experiment may have moved.
    path = Path(result.checkpoint.path)
    return (experiment / path.parent.name / path.name).is_dir()


def _unrecorded_checkpoints(
    trial_dir: Path, recorded: list[TrainingResult], rows: list[dict]
) -> list[TrainingResult]:
    """Checkpoints in ``trial_dir`` the state does not know, each with the result row of
    the iteration it was saved at (what Tune would have recorded), oldest first."""
    known = {Path(r.checkpoint.path).name for r in recorded}
    by_iteration = {row.get("training_iteration"): row for row in rows}
    found = []
    for path in sorted(trial_dir.glob("checkpoint_*")):
        if path.name in known or not path.is_dir():
            continue
        row = by_iteration.get(_iteration(path))
        if row is not None:  # (a checkpoint half-written when the driver died has none)
            checkpoint = Checkpoint.from_directory(str(path))
            found.append(TrainingResult(checkpoint=checkpoint, metrics=row))
    return found


def _iteration(checkpoint: Path) -> int | None:
    """The training iteration an RLlib checkpoint was saved at."""
    try:
        with open(checkpoint / "algorithm_state.pkl", "rb") as f:
            return pickle.load(f).get("training_iteration")
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        return None
