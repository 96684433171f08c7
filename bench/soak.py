"""``make soak``: the example chat under sustained load while its dependencies fail.

PostgreSQL and Redis are reached through fault proxies (``bench/fault_proxy.py``); the chat runs
under gunicorn (2 workers) behind the local gateway; 2 Celery workers take a background
broadcast every 10 s; client processes (``bench/soak_clients.py``) hold real WebSocket clients
that each send a message every 2 s. Faults (each a flag; ``--chaos``: all of them) are spread
over the run. Loopback only, bounded (``--duration``), stops by itself. The summary checks the
promises of ``docs/reliability.md`` and exits 1 if one is broken; ``--write`` appends the
figures to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "soak"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fault_proxy import FaultProxy  # noqa: E402
from soak_report import check, report, rss_kib  # noqa: E402

STAGE = "soak"
DB_NAME = "ws_routes_soak"
FAULT_SECONDS = 5.0


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start on port {port}: see {OUT}")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.events: list[tuple[float, str]] = []
        self.fault_windows: list[tuple[float, float]] = []
        self.broadcasts: list[int] = []
        self.enqueue_refused: list[str] = []
        self.rss: dict[str, dict[str, int]] = {}
        self.started = 0.0
        self.forged: dict[str, int] = {}
        self.forged_latencies: list[float] = []
        self.forging_done = False

    # -- set-up ---------------------------------------------------------------------------------

    def environment(self) -> None:
        import redis

        from bench.common import recreate_postgres_database

        OUT.mkdir(parents=True, exist_ok=True)
        recreate_postgres_database(DB_NAME)
        self.pg_proxy = FaultProxy(5432).start()
        self.redis_proxy = FaultProxy(6379).start()
        for db in (4, 5):
            redis.Redis(port=6379, db=db).flushdb()
        self.http_port, self.gateway_port = free_port(), free_port()
        os.environ.update(
            DJANGO_SETTINGS_MODULE="bench.soak_settings",
            PYTHONPATH=str(ROOT),
            SOAK_PG_PORT=str(self.pg_proxy.port),
            SOAK_DB_NAME=DB_NAME,
            SOAK_REDIS_URL=f"redis://127.0.0.1:{self.redis_proxy.port}/5",
            SOAK_BROKER_URL=f"redis://127.0.0.1:{self.redis_proxy.port}/4",
            SOAK_QUEUE=f"ws_routes_soak_{uuid.uuid4().hex[:8]}",
            SOAK_GATEWAY_URL=f"http://127.0.0.1:{self.gateway_port}",
            CHAT_SECRET_KEY=secrets.token_urlsafe(50),
            CHAT_GATEWAY_SECRET=secrets.token_urlsafe(32),
            CHAT_HTTP_PORT=str(self.http_port),
            CHAT_GATEWAY_PORT=str(self.gateway_port),
            AWS_ACCESS_KEY_ID="AKIDSOAK" + secrets.token_hex(6).upper(),
            AWS_SECRET_ACCESS_KEY=secrets.token_urlsafe(30),
            AWS_EC2_METADATA_DISABLED="true",
            PYTHONUNBUFFERED="1",
        )
        import django

        django.setup()
        from django.core.management import call_command

        import bench.soak_celery  # noqa: F401 - the current Celery app: broadcasts publish on it

        call_command("migrate", interactive=False, verbosity=0)

    def users_and_tokens(self) -> list[dict[str, Any]]:
        from django.contrib.auth import get_user_model
        from django.utils import timezone

        from ws_routes.models import ConnectToken, hash_token

        args = self.args
        model = get_user_model()
        users = model.objects.bulk_create(
            [model(username=f"soak{index}", password="!") for index in range(args.clients)]
        )
        rooms = max(1, args.clients * args.rooms_per_client // args.room_size)
        now = timezone.now()
        tokens: list[ConnectToken] = []
        specs = []
        for index, user in enumerate(users):
            raw = [secrets.token_urlsafe(32) for _ in range(3)]
            tokens += [
                ConnectToken(
                    token_hash=hash_token(value),
                    user=user,
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                )
                for value in raw
            ]
            first = index % rooms
            specs.append(
                {
                    "index": index,
                    "tokens": raw,
                    "rooms": [
                        f"r{(first + step * 7) % rooms}" for step in range(args.rooms_per_client)
                    ],
                    "hostile": index % round(1 / args.hostile_share) == 0
                    if args.hostile_share
                    else False,
                }
            )
        ConnectToken.objects.bulk_create(tokens, batch_size=2000)
        return specs

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = open(OUT / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def servers(self) -> None:
        args = self.args
        python = sys.executable
        bin_dir = Path(python).parent
        self.start(
            "gunicorn",
            [
                str(bin_dir / "gunicorn"),
                "example_project.wsgi:application",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                str(args.threads),
                "--bind",
                f"127.0.0.1:{self.http_port}",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "--backlog",
                "4096",
            ],
        )
        wait_for_port(self.http_port, "gunicorn")
        gateway = [
            python,
            str(ROOT / "example_project" / "manage.py"),
            "runwsgateway",
            "--port",
            str(self.gateway_port),
            "--stage",
            STAGE,
            "--target",
            f"http://127.0.0.1:{self.http_port}/ws/",
            "--secret",
            os.environ["CHAT_GATEWAY_SECRET"],
        ]
        if args.management_faults:
            window = {"after": args.ramp + args.duration * 0.55, "for": args.duration * 0.15}
            gateway += [
                "--management-faults",
                json.dumps({"500": 0.03, "429": 0.03, "hang": 0.01, "hang_seconds": 4, **window}),
            ]
            self.fault_windows.append(
                (window["after"] - args.ramp, window["after"] - args.ramp + window["for"])
            )
        self.start("gateway", gateway)
        wait_for_port(self.gateway_port, "the local gateway")
        for number in (1, 2):
            self.start(
                f"celery{number}",
                [
                    str(bin_dir / "celery"),
                    "-A",
                    "bench.soak_celery",
                    "worker",
                    "--pool=prefork",
                    "--concurrency=1",
                    "-Q",
                    os.environ["SOAK_QUEUE"],
                    "-n",
                    f"soak{number}@%h",
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
            )
        self.gateway_started = time.monotonic()

    def clients(self, specs: list[dict[str, Any]]) -> None:
        args = self.args
        self.deadline = time.time() + args.ramp + args.duration
        per = -(-len(specs) // args.client_processes)
        for number in range(args.client_processes):
            plan = {
                "gateway": f"ws://127.0.0.1:{self.gateway_port}",
                "stage": STAGE,
                "deadline": self.deadline,
                "interval": args.interval,
                "send_every": args.send_every,
                "ramp_seconds": args.ramp,
                "clients": specs[number * per : (number + 1) * per],
            }
            (OUT / f"plan{number}.json").write_text(json.dumps(plan))
            self.start(
                f"clients{number}",
                [
                    sys.executable,
                    str(ROOT / "bench" / "soak_clients.py"),
                    str(OUT / f"plan{number}.json"),
                    str(OUT / f"result{number}.json"),
                ],
            )

    # -- the run ----------------------------------------------------------------------------------

    def sample_rss(self, label: str) -> None:
        sample: dict[str, int] = {}
        gateway = self.processes["gateway"].pid
        sample["gateway"] = rss_kib(gateway)
        for number, pid in enumerate(children(self.processes["gunicorn"].pid)):
            sample[f"django worker {number + 1}"] = rss_kib(pid)
        for number in (1, 2):
            pids = [
                self.processes[f"celery{number}"].pid,
                *children(self.processes[f"celery{number}"].pid),
            ]
            sample[f"celery {number}"] = sum(rss_kib(pid) for pid in pids)
        self.rss[label] = sample

    def broadcast(self, number: int) -> None:
        from ws_routes.broadcasting.publish import BroadcastEnqueueError
        from ws_routes.models import WebSocketSession

        try:
            record = WebSocketSession.objects.filter(connected=True).send(
                {"type": "soak.broadcast", "n": number}, background=True
            )
        except BroadcastEnqueueError as error:
            self.enqueue_refused.append(f"broadcast {number}: {error}")
            return
        except Exception as error:  # the database cut: the caller sees it, nothing is written
            self.enqueue_refused.append(f"broadcast {number}: {type(error).__name__}: {error}")
            from django.db import close_old_connections

            close_old_connections()
            return
        self.broadcasts.append(record.pk)

    def forge(self) -> None:
        """Posts straight to Django with forged secrets (some oversized), 20 a second: each
        must be refused 403 before any work, however busy the server is."""
        import http.client

        bodies = [b'{"action": "chat.send", "text": "forged"}', b"x" * (200 * 1024)]
        headers = {
            "X-Ws-Secret": "forged-" + secrets.token_urlsafe(16),
            "X-Ws-Event": "MESSAGE",
            "X-Ws-Connection-Id": "Zm9yZ2VkMDAwMDA=",
            "Content-Type": "application/json",
        }
        number = 0
        while not self.forging_done:
            number += 1
            began = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
                conn.request("POST", "/ws/", body=bodies[number % 2], headers=headers)
                status = conn.getresponse().status
                conn.close()
            except OSError as error:
                status = type(error).__name__
            self.forged[str(status)] = self.forged.get(str(status), 0) + 1
            self.forged_latencies.append(time.monotonic() - began)
            time.sleep(0.05)

    def note(self, what: str) -> None:
        self.events.append((time.monotonic() - self.started, what))
        print(f"[{time.monotonic() - self.started:6.1f}s] {what}", flush=True)

    def faults(self) -> dict[float, Any]:
        args = self.args
        plan: dict[float, Any] = {}
        share = args.duration
        # Faults before the middle RSS sample (50%) and the management API's after it, so the
        # memory comparison (middle vs end) is not of a process caught restarting.
        if args.db_cut:
            plan[share * 0.10] = self.cut_database
        if args.kill_web_worker:
            plan[share * 0.20] = self.kill_web_worker
        if args.redis_cut:
            plan[share * 0.27] = self.cut_redis
        if args.kill_celery:
            plan[share * 0.38] = self.kill_celery_mid_shard
        return plan

    def cut_database(self) -> None:
        self.note("PostgreSQL cut for 5 s")
        self.pg_proxy.cut()
        self.fault_windows.append((self.elapsed(), self.elapsed() + FAULT_SECONDS))
        time.sleep(FAULT_SECONDS)
        self.pg_proxy.restore()
        self.note("PostgreSQL back")

    def cut_redis(self) -> None:
        self.note("Redis cut for 5 s")
        self.redis_proxy.cut()
        self.fault_windows.append((self.elapsed(), self.elapsed() + FAULT_SECONDS))
        time.sleep(FAULT_SECONDS)
        self.redis_proxy.restore()
        self.note("Redis back")

    def kill_web_worker(self) -> None:
        workers = children(self.processes["gunicorn"].pid)
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            self.note(f"gunicorn worker {workers[0]} SIGKILLed")
            self.fault_windows.append((self.elapsed(), self.elapsed() + 1))

    def kill_celery_mid_shard(self) -> None:
        from ws_routes.broadcasting.records import BroadcastShard

        self.broadcast(10_000 + len(self.broadcasts))  # a broadcast to be in the middle of
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            running = BroadcastShard.objects.filter(state=BroadcastShard.State.RUNNING).exists()
            if running:
                break
            time.sleep(0.02)
        for number in (1, 2):
            for pid in children(self.processes[f"celery{number}"].pid):
                os.kill(pid, signal.SIGKILL)
                self.note(
                    f"celery {number} pool process {pid} SIGKILLed "
                    f"({'mid-shard' if running else 'no shard running'})"
                )
                return

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def run(self) -> int:
        args = self.args
        specs = self.users_and_tokens()
        self.servers()
        self.clients(specs)
        time.sleep(args.ramp)
        self.started = time.monotonic()
        self.note(f"{args.clients} clients ramped up")
        self.sample_rss("start")
        import threading

        forger = threading.Thread(target=self.forge, daemon=True)
        forger.start()
        faults = sorted(self.faults().items())
        next_broadcast, number, sampled_middle = 0.0, 0, False
        while self.elapsed() < args.duration:
            if faults and self.elapsed() >= faults[0][0]:
                faults.pop(0)[1]()
                continue
            if self.elapsed() >= next_broadcast:
                number += 1
                self.broadcast(number)
                next_broadcast += args.broadcast_every
            if not sampled_middle and self.elapsed() >= args.duration / 2:
                self.sample_rss("middle")
                sampled_middle = True
            time.sleep(0.05)
        self.sample_rss("end")
        self.forging_done = True
        forger.join(35)
        self.note("duration over: clients drain their replies and read what they missed")
        for number in range(args.client_processes):
            self.processes[f"clients{number}"].wait(timeout=300)
        return self.summary()

    def summary(self) -> int:
        from ws_routes.broadcasting.records import Broadcast

        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and Broadcast.objects.filter(
                pk__in=self.broadcasts, state__in=["enqueued", "running"]
            ).exists()
        ):
            time.sleep(0.5)
        results = [
            json.loads((OUT / f"result{number}.json").read_text())
            for number in range(self.args.client_processes)
        ]
        broadcasts = list(
            Broadcast.objects.filter(pk__in=self.broadcasts)
            .order_by("pk")
            .values(
                "pk",
                "state",
                "total",
                "delivered",
                "gone",
                "failed",
                "cancelled",
                "possible_duplicates",
                "error",
                "payload",
            )
        )
        for row in broadcasts:
            row["n"] = json.loads(bytes(row.pop("payload")))["n"]
        alive = {
            name: process.poll() is None
            for name, process in self.processes.items()
            if not name.startswith("clients")
        }
        findings, text = report(
            self.args,
            results,
            broadcasts,
            self.rss,
            self.events,
            self.fault_windows,
            self.enqueue_refused,
            alive,
            (self.forged, self.forged_latencies),
        )
        print(text)
        if self.args.write:
            with open(ROOT / "bench" / "RESULTS.md", "a") as file:
                file.write("\n" + text)
        return 0 if check(findings) else 1

    def stop(self) -> None:
        for name in sorted(self.processes, key=lambda name: name != "gateway"):
            process = self.processes[name]
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(10)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients",
        type=int,
        default=300,
        help="300: what this 2-core machine sustains (docs/reliability.md)",
    )
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds after the ramp")
    parser.add_argument("--ramp", type=float, default=20.0, help="seconds to open every socket")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between a client's messages"
    )
    parser.add_argument("--send-every", type=int, default=10, help="1 in N messages is chat.send")
    parser.add_argument("--rooms-per-client", type=int, default=3)
    parser.add_argument("--room-size", type=int, default=10, help="members per room, on average")
    parser.add_argument(
        "--hostile-share", type=float, default=0.02, help="share of hostile clients"
    )
    parser.add_argument("--broadcast-every", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--db-cut", action="store_true", help="cut PostgreSQL for 5 s")
    parser.add_argument("--redis-cut", action="store_true", help="cut Redis for 5 s")
    parser.add_argument("--kill-web-worker", action="store_true", help="SIGKILL a gunicorn worker")
    parser.add_argument(
        "--management-faults",
        action="store_true",
        help="@connections answers 500/429/hangs for a share of posts, for a while",
    )
    parser.add_argument(
        "--kill-celery", action="store_true", help="SIGKILL a Celery worker mid-shard"
    )
    parser.add_argument("--chaos", action="store_true", help="all of the faults above")
    parser.add_argument(
        "--write", action="store_true", help="append the figures to bench/RESULTS.md"
    )
    args = parser.parse_args()
    if args.chaos:
        args.db_cut = args.redis_cut = args.kill_web_worker = True
        args.management_faults = args.kill_celery = True
    soak = Soak(args)
    try:
        soak.environment()
        code = soak.run()
    finally:
        soak.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
