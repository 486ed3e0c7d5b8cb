"""A Ray started by the suite: 127.0.0.1 only, no dashboard, token authentication on."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import CARTPOLE_PPO, REPO, ChildLines, cmdline, descendants, iteration_at_least


def _listening(pids: set[int]) -> dict[str, int]:
    """Listening TCP sockets of ``pids``: "address:port" -> pid."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = {}
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                raw = bytes.fromhex(address)
                if family == socket.AF_INET:
                    raw = raw[::-1]
                else:
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found[f"{socket.inet_ntop(family, raw)}:{int(port, 16)}"] = inodes[inode]
    return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return (mapped or ip).is_loopback


def test_local_ray_listens_on_localhost_only_and_serves_no_dashboard(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    proc = subprocess.Popen(
        [
            sys.executable, str(CARTPOLE_PPO), "--max-time", "600", "--stop-return", "10000",
            "--no-report", "--storage", str(tmp_path),
        ],
        cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        ChildLines(proc).until(iteration_at_least(1), timeout=180)  # every Ray process is up
        time.sleep(1)
        tree = descendants(proc.pid)
        sockets = _listening(tree)
        dashboards = {pid for pid in tree if b"dashboard/dashboard.py" in cmdline(pid)}
        gcs = {pid for pid in tree if cmdline(pid).split(b"\0")[0].endswith(b"/gcs_server")}
        gcs_env = Path(f"/proc/{next(iter(gcs))}/environ").read_bytes().split(b"\0")
        [gcs_port] = [address.rsplit(":", 1)[1] for address, pid in sockets.items() if pid in gcs]
        wrong_client = _join(gcs_port, token="0" * 64)
        right_client = _join(gcs_port, token=None)  # the token Ray made for this machine
        # Ray's client retries a refused token for 20 s; its first answer is the refusal.
        answer = ChildLines(wrong_client).until(
            lambda line: "authenticat" in line.lower() or "joined" in line, timeout=60
        )
        wrong_client.kill()
        wrong_client.wait(timeout=30)
        right = _finished(right_client)
    finally:
        proc.terminate()
        proc.communicate(timeout=120)
    assert sockets, "found no listening Ray sockets"
    exposed = {address: name for address, name in sockets.items() if not _loopback(address)}
    assert not exposed, f"listening beyond 127.0.0.1: {exposed}"
    # No dashboard, not even the headless one Ray keeps for usage statistics, which are off.
    assert not [a for a in sockets if a.endswith(":8265")]
    assert not dashboards, "a dashboard process runs without --dashboard"
    assert b"RAY_USAGE_STATS_ENABLED=0" in gcs_env
    # Token authentication is on: a client with the wrong token is turned away.
    assert "joined" not in answer and "authenticat" in answer.lower(), answer
    assert right.returncode == 0 and "joined" in right.stdout, right.stdout[-2000:]


def _join(gcs_port: str, token: str | None) -> subprocess.Popen:
    """A client starting to join the suite's Ray at 127.0.0.1:``gcs_port`` with ``token``
    (None: the machine's own token file, ~/.ray/auth_token)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env["RAY_AUTH_MODE"] = "token"
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # keep 127.0.0.1 as is, as the suite's Ray
    if token is not None:
        env["RAY_AUTH_TOKEN"] = token
    code = f"import ray; ray.init(address='127.0.0.1:{gcs_port}'); print('joined')"
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _finished(client: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, _ = client.communicate(timeout=120)
    return subprocess.CompletedProcess(client.args, client.returncode, stdout, "")
