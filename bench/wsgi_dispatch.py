"""Child process: dispatch through a real WSGI server, under load from another process.

    python bench/wsgi_dispatch.py --lib ours --db sqlite:/tmp/w.sqlite3 --seconds 10
    python bench/wsgi_dispatch.py --lib floor-query --db postgres:bench_wsgi_floor_query

What a deployment runs: gunicorn (``--workers 2``, the default sync worker, ``--preload``)
serving the view of ``dispatch.py`` for one contender (``wsgi_app.py``), and ``wrk`` (Debian's
package) posting the same message with the same headers from another process, over loopback
TCP. gunicorn is given a socket this process bound to ``127.0.0.1:0`` (``--bind fd://N``), so
the port is ephemeral and free. Every run is bounded twice: ``--seconds`` of load and at most
``--max-requests`` responses (the Lua script stops wrk there), after a short warm-up; wrk's own
process is also killed past a deadline. The figure is time-based: wrk reports the full
``--seconds`` even when its threads stopped early, so a measured run that reaches the request
cap fails instead of reporting a rate.

Every response must be a ``200`` (the Lua script counts the others) or the run fails. Prints
``RESULT {json}``: responses/s, latency percentiles, and the CPU the server (gunicorn's master
and workers, from ``/proc``) and wrk spent per message: on a shared machine CPU per message
moves less with other people's load than responses/s does.
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import dispatch

HERE = Path(__file__).resolve().parent
WORKERS = 2
CONNECTIONS = 4  # two per worker: each sync worker always has the next request queued

# wrk's Lua hooks (https://github.com/wg/wrk/blob/master/SCRIPTING): every response that is not
# a 200 is counted, each thread stops itself after its share of --max-requests, and done()
# prints one JSON line that wsgi_dispatch.py reads.
LUA_TEMPLATE = """
wrk.method = "POST"
wrk.path = {path}
wrk.body = {body}
{headers}
max_responses = {max_per_thread}
responses = 0
not_ok = 0
first_bad = ""
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    not_ok = not_ok + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end
  end
  if responses >= max_responses then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local counted, bad, example = 0, 0, ""
  for _, thread in ipairs(threads) do
    counted = counted + thread:get("responses")
    bad = bad + thread:get("not_ok")
    if example == "" then example = thread:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK {{"requests": %d, "duration_us": %d, "responses": %d, "not_200": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "first_bad": %q}}\\n',
    summary.requests, summary.duration, counted, bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    example))
end
"""


def lua_string(text: str) -> str:
    """A Lua (5.1/LuaJIT) string literal for ``text``: printable ASCII as is, the rest ``\\ddd``."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '\\"':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_script(request: dict[str, Any], max_per_thread: int) -> str:
    headers = {"Content-Type": "application/json", **request["headers"]}
    return LUA_TEMPLATE.format(
        path=lua_string(request["path"]),
        body=lua_string(request["body"]),
        headers="\n".join(
            f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
            for name, value in headers.items()
        ),
        max_per_thread=max_per_thread,
    )


def end_with_parent() -> None:
    """In the child, before exec: SIGTERM it when this process dies (``PR_SET_PDEATHSIG``).

    So that a driver killed by run.py's timeout never leaves gunicorn serving behind it.
    """
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Gunicorn:
    """gunicorn serving ``wsgi_app`` for one contender on a socket bound here (ephemeral port)."""

    def __init__(self, lib: str, db: str, workdir: Path) -> None:
        self.lib, self.db = lib, db
        self.request_file = workdir / "request.json"

    def __enter__(self) -> Gunicorn:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.sock.set_inheritable(True)
        self.port = self.sock.getsockname()[1]
        env = dict(os.environ, BENCH_WSGI_LIB=self.lib, BENCH_WSGI_DB=self.db)
        env["BENCH_WSGI_REQUEST"] = str(self.request_file)
        fd = self.sock.fileno()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn",
                "--bind", f"fd://{fd}",
                "--workers", str(WORKERS),
                "--preload",
                "--chdir", str(HERE),
                "--log-level", "warning",
                "--timeout", "30",
                "--graceful-timeout", "5",
                "wsgi_app:application",
            ],
            pass_fds=(fd,),
            env=env,
            preexec_fn=end_with_parent,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        return self

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        """The request the contender expects, once gunicorn answers it with a 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.lib}: gunicorn exited with {self.process.returncode}")
            if self.request_file.exists():
                try:
                    request = json.loads(self.request_file.read_text())
                    status, reply = self.post(request)
                except (OSError, ValueError, http.client.HTTPException):
                    time.sleep(0.2)
                    continue
                if status != 200:
                    raise SystemExit(f"{self.lib}: {status} {reply[:300]!r}")
                request["reply"] = reply.decode()[:200]
                return request
            time.sleep(0.2)
        raise SystemExit(f"{self.lib}: gunicorn not answering after {timeout:.0f} s")

    def post(self, request: dict[str, Any]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json", **request["headers"]}
            conn.request("POST", request["path"], request["body"].encode(), headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish, then exit
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far (``/proc/PID/stat`` fields 14 and 15)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (each wrk run, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (gunicorn's master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def run_wrk(port: int, script: Path, seconds: float, connections: int) -> dict[str, Any]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", str(script), f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    for line in done.stdout.splitlines():
        if line.startswith("WRK "):
            return json.loads(line[4:])
    raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=dispatch.CONTENDERS, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup-seconds", type=float, default=2)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="ws-routes-wsgi-"))
    try:
        with Gunicorn(args.lib, args.db, workdir) as server:
            request = server.wait_ready()
            script = workdir / "post.lua"
            # wrk -t1: one thread, so its share is the whole budget
            script.write_text(lua_script(request, args.max_requests))
            warm = run_wrk(server.port, script, args.warmup_seconds, args.connections)
            server_pids = process_tree(server.process.pid)
            server_cpu = cpu_seconds(server_pids)
            wrk_cpu = children_cpu_seconds()
            result = run_wrk(server.port, script, args.seconds, args.connections)
            server_cpu = cpu_seconds(server_pids) - server_cpu
            wrk_cpu = children_cpu_seconds() - wrk_cpu
            if len(server_pids) != WORKERS + 1 or process_tree(server.process.pid) != server_pids:
                raise SystemExit(f"{args.lib}: gunicorn's workers changed during the run")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for run in (warm, result):
        errors = run["not_200"] + run["connect_errors"] + run["read_errors"] + run["timeouts"]
        if errors:
            raise SystemExit(f"{args.lib}: {errors} failed requests: {run}")
    if result["responses"] >= args.max_requests:
        raise SystemExit(
            f"{args.lib}: hit --max-requests {args.max_requests} within {args.seconds} s; "
            "raise it (or shorten --seconds) for a time-based figure"
        )
    seconds = result["duration_us"] / 1e6
    common.emit(
        {
            "lib": args.lib,
            "db": args.db.partition(":")[0],
            "server": f"gunicorn {WORKERS} sync workers",
            "connections": args.connections,
            "requests": result["requests"],
            "seconds": round(seconds, 2),
            "messages_per_second": round(result["requests"] / seconds, 1),
            "p50_ms": round(result["p50_us"] / 1000, 2),
            "p90_ms": round(result["p90_us"] / 1000, 2),
            "p99_ms": round(result["p99_us"] / 1000, 2),
            "server_cpu_ms_per_message": round(server_cpu * 1000 / result["requests"], 3),
            "wrk_cpu_ms_per_message": round(wrk_cpu * 1000 / result["requests"], 3),
            "write_errors": result["write_errors"],
            "reply": request["reply"],
        }
    )


if __name__ == "__main__":
    main()
