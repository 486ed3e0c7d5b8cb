"""One real local Ray for the whole test session (ray.init costs ~6 s)."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import pytest
import ray

from analysis.watch import read_results

REPO = Path(__file__).resolve().parents[1]
CARTPOLE_PPO = REPO / "experiments" / "cartpole_ppo.py"


TESTS = Path(__file__).resolve().parent

# Ray workers inherit this environment: they import the test envs from tests/, and see no
# X display (as on a headless server), whatever the developer's shell has.
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys(
        [str(TESTS), str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
)
os.environ.pop("DISPLAY", None)
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="session")
def ray_session():
    ray.init(
        address="local",
        num_cpus=2,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        logging_level="WARNING",
    )
    yield
    ray.shutdown()


def run_script(
    *args: str, script: Path = CARTPOLE_PPO, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run an experiment script as a user would, in its own process (no DISPLAY, no Ray
    address unless ``env`` gives one)."""
    full_env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=full_env,
    )


def smoke_run_with_videos(
    storage: Path, name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``cartpole_ppo.py --smoke`` with an evaluation round (and video) every iteration."""
    return run_script(
        "--smoke",
        "--eval-interval",
        "1",
        "--no-report",
        "--storage",
        str(storage),
        "--name",
        name,
        *args,
        env=env,
    )


def mlflow_client(storage: Path):
    """MLflow's own client on the store ``--track mlflow`` writes by default: the sqlite
    database ``mlflow.db`` in ``storage``, as a user opens it."""
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{(storage / 'mlflow.db').resolve()}")


def load_script(path: Path = CARTPOLE_PPO):
    """Import an experiment script as a module (its config, SWEEP and run)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode_mp4(path: Path) -> tuple[int, tuple[int, int]]:
    """Frame count and (width, height) of an MP4, decoded with imageio-ffmpeg's reader."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return sum(1 for _ in reader), tuple(meta["size"])


def run_to_failure(*argv: str) -> None:
    """``cartpole_ppo``'s ``run`` in this process (the session's Ray), for a run whose trial
    fails: it must end with exit status 1."""
    script = load_script()
    with pytest.raises(SystemExit) as exit_:
        script.run(script.EXPERIMENT, script="cartpole_ppo", argv=list(argv))
    assert exit_.value.code == 1


def trial_dirs(experiment: Path) -> list[Path]:
    """An experiment's trial directories, in trial order (none if it does not exist yet)."""
    if not experiment.is_dir():
        return []
    return sorted(p for p in experiment.iterdir() if p.is_dir() and "_0000" in p.name)


def trial_dir(experiment: Path) -> Path:
    """The one trial directory of a single-trial experiment."""
    [trial] = trial_dirs(experiment)
    return trial


def cmdline(pid: int) -> bytes:
    """A process's command line, NUL-separated (empty once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def descendants(root: int) -> set[int]:
    """``root`` and every process below it, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def sigkill_tree(root: int) -> None:
    """SIGKILL ``root`` and its descendants at once, as a crash would."""
    for pid in descendants(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """A real multi-node Ray on 127.0.0.1: `ray start --head` plus workers, separate processes.

    Only the processes started here are stopped, by PID (never `ray stop`).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        self.env["RAY_AUTH_MODE"] = "token"
        # Its own token: a fresh machine has no ~/.ray/auth_token yet, and ours stays untouched.
        self.env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        self.procs: list[subprocess.Popen] = []
        self.probe_error = ""
        self.worker_procs: list[subprocess.Popen] = []

    def _start(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [
                "ray",
                "start",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--dashboard-agent-listen-port={free_port()}",
                *args,
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def start(
        self,
        workers: list[dict],
        *,
        head_cpus: int = 1,
        head_gpus: int = 0,
        head_resources: dict | None = None,
        dashboard: bool = False,
    ) -> LocalCluster:
        """A head (with Ray's dashboard and job server on 127.0.0.1 if ``dashboard``) and one
        1-CPU worker node per entry of ``workers`` (its custom resources). ``head_gpus``:
        GPUs the head declares (Ray trusts the number; nothing here uses them)."""
        if dashboard:
            self.dashboard = f"http://127.0.0.1:{free_port()}"
            board = [
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard.rsplit(':', 1)[1]}",
            ]
        else:
            board = ["--include-dashboard=false"]
        try:
            self._start(
                "--head",
                f"--port={self.port}",
                f"--num-cpus={head_cpus}",
                f"--num-gpus={head_gpus}",
                f"--resources={json.dumps(head_resources or {})}",
                *board,
            )
            self.wait_for_nodes(1)
            for count, resources in enumerate(workers, start=2):
                self.worker_procs.append(
                    self._start(
                        f"--address={self.address}",
                        "--num-cpus=1",
                        f"--resources={json.dumps(resources)}",
                    )
                )
                # One at a time: nodes on one machine that start together race for the same
                # free ports and log files (seen: "bind: Address already in use").
                self.wait_for_nodes(count)
        except BaseException:
            self.stop()  # leave no half-started cluster behind
            raise
        return self

    def nodes(self, timeout: float = 60) -> list[dict]:
        """The cluster's live nodes, or [] if a driver cannot ask it yet: its `ray.init`
        failed, or hung (seen once in CI, 120 s, while the nodes were starting)."""
        code = (
            f"import json, ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
            "print(json.dumps([n for n in ray.nodes() if n['Alive']]))"
        )
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code],
                env=self.env, capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired as hung:
            self.probe_error = f"ray.init hung for {timeout:.0f} s: {hung.stderr!r}"[-2000:]
            return []
        self.probe_error = proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else []

    def env_runners(self, class_name: str = "SingleAgentEnvRunner") -> dict[str, str]:
        """Every env runner (or ``class_name``) actor the cluster has seen, alive or dead:
        actor id -> node id."""
        code = (
            f"import json, ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
            "from ray.util.state import list_actors; "
            "print(json.dumps({a.actor_id: a.node_id for a in list_actors("
            f"filters=[('class_name', '=', {class_name!r})], limit=10000)}}))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def wait_for_nodes(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while len(self.nodes()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{count} Ray nodes did not come up at {self.address}; the last probe "
                    f"said: {self.probe_error}"
                )
            time.sleep(1)

    def crash_worker(self, index: int) -> None:
        """Worker node ``index`` dies at once: its `ray start`, raylet and workers SIGKILLed."""
        proc = self.worker_procs[index]
        sigkill_tree(proc.pid)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()  # `ray start --block` takes its node's processes down with it
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


class ChildLines:
    """The lines a child process prints (stdout, stderr merged into it), read on a thread:
    a test waits for a line with a deadline even when the child falls silent."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)  # end of output

    def until(self, wanted: Callable[[str], bool], timeout: float) -> str:
        """The first line from now on for which ``wanted`` is true; fails the test (with the
        output so far) when none comes within ``timeout`` seconds or the child ends first."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the child ended first; its output:\n{self.output[-3000:]}")
            self.lines.append(line)
            if wanted(line):
                return line
        self.proc.kill()
        pytest.fail(f"no such line in {timeout:.0f} s; the output:\n{self.output[-3000:]}")

    def wait(self, timeout: float) -> str:
        """All the child's output once it has ended (killed after ``timeout`` seconds)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        while (line := self._queue.get(timeout=30)) is not None:
            self.lines.append(line)
        return self.output

    @property
    def output(self) -> str:
        return "".join(self.lines)


def iteration_at_least(n: int) -> Callable[[str], bool]:
    """A console line of a trial's iteration ``n`` or later."""

    def wanted(line: str) -> bool:
        match = re.search(r"iter +(\d+)", line)
        return bool(match) and int(match.group(1)) >= n

    return wanted


def rows_once(experiment: Path, event, lines: ChildLines, timeout: float) -> list[dict]:
    """The (first) trial's results once ``event(rows)`` holds, polled from its result.json
    (every iteration, unlike the console's lines every 2 s); fails the test after
    ``timeout`` seconds with the run's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dirs = trial_dirs(experiment)
        rows = read_results(dirs[0]) if dirs else []
        if rows and event(rows):
            return rows
        time.sleep(0.2)
    lines.proc.kill()
    raise AssertionError(f"no such results in {timeout:.0f} s:\n{lines.wait(60)[-3000:]}")


def at_iteration(n: int) -> Callable[[list[dict]], bool]:
    """For ``rows_once``: the trial has reported iteration ``n``."""
    return lambda rows: rows[-1]["training_iteration"] >= n
