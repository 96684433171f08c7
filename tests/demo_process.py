"""``manage.py rundemo`` (what ``make demo`` runs) as a subprocess on free ports, for tests."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Demo:
    url: str  # http://127.0.0.1:<port>
    websocket_url: str  # ws://127.0.0.1:<port>/local: the local gateway's stage
    http_port: int
    gateway_port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_demo(
    workdir: Path, start_timeout: float = 60, extra_args: tuple[str, ...] = ()
) -> Iterator[Demo]:
    """Start the demo with a throwaway database and secrets; stop it (SIGTERM) on exit.

    Raises ``RuntimeError`` with the demo's output if it does not start or stop cleanly.
    """
    http_port, gateway_port = free_port(), free_port()
    env = {
        **os.environ,
        "CHAT_HTTP_PORT": str(http_port),
        "CHAT_GATEWAY_PORT": str(gateway_port),
        "CHAT_DATABASE": str(workdir / "db.sqlite3"),
        "CHAT_SECRET_KEY": secrets.token_urlsafe(50),
        "CHAT_GATEWAY_SECRET": secrets.token_urlsafe(32),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest's is the test suite's
    demo = Demo(
        url=f"http://127.0.0.1:{http_port}",
        websocket_url=f"ws://127.0.0.1:{gateway_port}/local",
        http_port=http_port,
        gateway_port=gateway_port,
        log=workdir / "demo.log",
    )
    with open(demo.log, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "example_project" / "manage.py"),
                "rundemo",
                "--noreload",
                *extra_args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while "Chat demo:" not in demo.output():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("rundemo did not start:\n" + demo.output())
            time.sleep(0.1)
        yield demo
    finally:
        process.send_signal(signal.SIGTERM)  # rundemo stops the gateway, then Django
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError("rundemo did not stop on SIGTERM:\n" + demo.output()) from None
