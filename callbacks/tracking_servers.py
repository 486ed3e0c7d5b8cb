"""Before a run starts: is ``--track``'s tool installed, and does its server answer? Light on
purpose (no wandb or mlflow import beyond the check): the command line's checks run it
before Ray starts or RLlib is imported."""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse

from suite.errors import UsageError
from suite.uris import unreachable

TRACKERS = ("wandb", "mlflow")
WANDB_DEFAULT_URL = "https://api.wandb.ai"  # W&B's server unless WANDB_BASE_URL says another


def check_tracker(tool: str) -> None:
    """``--track tool`` must be installed, and W&B online needs an API key (else it would
    fail only inside Tune's logging actor, after Ray started)."""
    try:
        __import__(tool)
    except ImportError:
        raise UsageError(
            f"--track {tool} needs the {tool} package: pip install -e '.[track]' "
            f"(or pip install {tool})"
        ) from None
    if tool == "wandb" and not wandb_offline():
        if not _wandb_api_key():
            raise UsageError(
                "--track wandb: no W&B API key; run wandb login, or set WANDB_MODE=offline "
                "to log locally and upload later with wandb sync"
            )
        server = os.environ.get("WANDB_BASE_URL", WANDB_DEFAULT_URL)
        _check_server(server, f"W&B at {server}", "check the network, or set WANDB_MODE=offline")
    if tool == "mlflow" and not os.environ.get("MLFLOW_TRACKING_URI"):
        try:  # the default store, a sqlite database, needs MLflow's SQL store
            __import__("sqlalchemy")
            __import__("alembic")
        except ImportError:
            raise UsageError(
                "--track mlflow's store (sqlite) needs sqlalchemy and alembic: "
                "pip install -e '.[track]'"
            ) from None
    if tool == "mlflow" and os.environ.get("MLFLOW_TRACKING_URI", "").startswith("http"):
        # MLflow's client would retry for ~4 minutes before the first trial starts.
        server = os.environ["MLFLOW_TRACKING_URI"]
        _check_server(
            server, f"the MLflow server at {server}", "start it, or fix MLFLOW_TRACKING_URI"
        )


def _check_server(url: str, what: str, remedy: str, timeout_s: float = 5.0) -> None:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    reason = unreachable(parsed.hostname or "", port, timeout_s)
    if reason:
        raise UsageError(f"--track: {what} does not answer ({reason}); {remedy}")


def wandb_offline() -> bool:
    return os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun")


def _wandb_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", WANDB_DEFAULT_URL)).hostname
    try:
        return netrc.netrc().authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False
