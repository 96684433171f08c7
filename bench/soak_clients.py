"""One client process of ``bench/soak.py``: many real WebSocket clients of the example chat.

``python bench/soak_clients.py PLAN.json RESULT.json``. PLAN holds the gateway URL, the stage,
the run's deadline, and per client its tokens and rooms. Each client connects with a one-time
token, subscribes to its rooms (learning each room's ``seq``), then every ``interval`` seconds
sends one message with an ``id`` (one in ``send_every`` a ``chat.send`` to one of its rooms,
the others ``chat.who``), and records every frame it gets. Hostile clients send malformed,
oversized and unauthorised messages instead. At the end each client waits for its replies,
then reads what it missed with ``channel.history`` (what resume would do). RESULT holds counts.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter, defaultdict
from typing import Any

import aiohttp

REPLY_TIMEOUT = 35.0  # API Gateway's 29 s integration timeout, and some slack


class Stats:
    def __init__(self) -> None:
        self.sent = 0
        self.replies = 0
        self.error_codes: Counter[str] = Counter()
        self.gateway_errors: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.hostile_latencies: list[float] = []
        self.send_latencies: list[float] = []  # good chat.send only: the work hostile ones fake
        self.hostile_codes: Counter[str] = Counter()
        self.unanswered = 0
        self.connect_failures: Counter[str] = Counter()
        self.subscribe_errors: Counter[str] = Counter()
        self.unexpected_frames: list[str] = []
        #: channel -> [expected, received live, duplicates, read back, lost], over its clients
        self.channels: dict[str, list[int]] = {}
        self.disconnects: Counter[str] = Counter()
        self.broadcasts: Counter[str] = Counter()
        self.presence = 0
        self.pushes = 0
        self.duplicates = 0
        self.missing_live = 0
        self.filled_by_history = 0
        self.unfillable = 0
        self.timeline: Counter[str] = Counter()  # second -> error replies (for recovery time)
        self.timeline_sent: Counter[str] = Counter()


class Client:
    def __init__(self, spec: dict[str, Any], plan: dict[str, Any], stats: Stats) -> None:
        self.spec = spec
        self.plan = plan
        self.stats = stats
        self.pending: dict[str, tuple[float, bool]] = {}
        self.baseline: dict[str, int] = {}
        self.seen: dict[str, set[int]] = defaultdict(set)
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.counter = 0
        self.duplicates: Counter[str] = Counter()
        self.malformed: list[str] = []  # ids the server cannot read: its reply names none

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{self.spec['index']}:{kind}:{self.counter}"

    async def run(self, session: aiohttp.ClientSession) -> None:
        for token in self.spec["tokens"]:
            if time.time() >= self.plan["deadline"]:
                return
            url = (
                f"{self.plan['gateway']}/{self.plan['stage']}?token={token}"
                f"&channel=room:{self.spec['rooms'][0]}"
            )
            try:
                async with session.ws_connect(url, heartbeat=None, timeout=30) as ws:
                    await self.connected(ws)
                    return
            except aiohttp.WSServerHandshakeError as error:
                self.stats.connect_failures[str(error.status)] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                self.stats.connect_failures[type(error).__name__] += 1
            await asyncio.sleep(1 + random.random())

    async def connected(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reader = asyncio.create_task(self.read(ws))
        try:
            for room in self.spec["rooms"]:
                await self.subscribe(ws, f"room:{room}")
            await asyncio.sleep(random.random() * self.plan["interval"])
            while time.time() < self.plan["deadline"] and not ws.closed:
                began = time.monotonic()
                if self.spec["hostile"]:
                    await self.send_hostile(ws)
                else:
                    await self.send_good(ws)
                await asyncio.sleep(max(0.0, self.plan["interval"] - (time.monotonic() - began)))
            await self.drain()
            if not ws.closed and not self.spec["hostile"]:
                await self.read_missed(ws)
        finally:
            await ws.close()
            reader.cancel()
            self.stats.unanswered += len(self.pending)

    async def subscribe(self, ws: aiohttp.ClientWebSocketResponse, channel: str) -> None:
        """``channel.subscribe``, retried (as a real client would) until it works or time is up."""
        while time.time() < self.plan["deadline"] and not ws.closed:
            answer = await self.call(ws, {"action": "channel.subscribe", "channel": channel})
            data = (answer or {}).get("data") or {}
            if "seq" in data:
                self.baseline.setdefault(channel, data["seq"])
                return
            error = (answer or {}).get("error") or {}
            if error.get("code") == "already_subscribed":  # the connect's channel: read its seq
                answer = await self.call(
                    ws, {"action": "channel.history", "channel": channel, "since": 0}
                )
                data = (answer or {}).get("data") or {}
                if "seq" in data:
                    self.baseline.setdefault(channel, data["seq"])
                    return
                error = (answer or {}).get("error") or {}
            self.stats.subscribe_errors[
                error.get("code", "no reply" if answer is None else "?")
            ] += 1
            await asyncio.sleep(1 + random.random())

    async def send_good(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        message_id = self.next_id("m")
        room = random.choice(self.spec["rooms"])
        if self.counter % self.plan["send_every"] == 0:
            body = {"action": "chat.send", "room": room, "text": f"soak {message_id}"}
        else:
            body = {"action": "chat.who", "room": room}
        await self.send(ws, message_id, body, hostile=False)

    async def send_hostile(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        message_id = self.next_id("h")
        kind = self.counter % 4
        if kind == 0:  # a field far over its schema's limit (the frame stays under 32 KB)
            body: Any = {"action": "chat.send", "room": self.spec["rooms"][0], "text": "x" * 30000}
        elif kind == 1:  # a channel no rule allows
            body = {"action": "channel.subscribe", "channel": "admin:secrets"}
        elif kind == 2:  # a room it may not speak in
            body = {"action": "chat.send", "room": "not-joined-room", "text": "hi"}
        else:  # malformed JSON with an id the server cannot read
            self.malformed.append(message_id)
            self.pending[message_id] = (time.monotonic(), True)
            self.stats.sent += 1
            self.stats.timeline_sent[str(int(time.time()))] += 1
            await ws.send_str('{"action": "chat.send", "id": "' + message_id + '", "text": ')
            return
        await self.send(ws, message_id, body, hostile=True)

    async def send(self, ws: Any, message_id: str, body: dict[str, Any], hostile: bool) -> None:
        self.pending[message_id] = (time.monotonic(), hostile)
        self.stats.sent += 1
        self.stats.timeline_sent[str(int(time.time()))] += 1
        await ws.send_str(json.dumps({**body, "id": message_id}))

    async def call(self, ws: Any, body: dict[str, Any]) -> dict[str, Any] | None:
        message_id = self.next_id("c")
        future = asyncio.get_running_loop().create_future()
        self.replies[message_id] = future
        await ws.send_str(json.dumps({**body, "id": message_id}))
        try:
            return await asyncio.wait_for(future, REPLY_TIMEOUT)
        except asyncio.TimeoutError:
            return None
        finally:
            self.replies.pop(message_id, None)

    async def drain(self) -> None:
        deadline = time.monotonic() + REPLY_TIMEOUT
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    async def read_missed(self, ws: Any) -> None:
        """What resume would fetch: ``channel.history`` since the subscribe, page by page."""
        for channel, base in self.baseline.items():
            since, newest, replayed = base, None, set()
            for _ in range(20):
                answer = await self.call(
                    ws, {"action": "channel.history", "channel": channel, "since": since}
                )
                data = (answer or {}).get("data", answer or {})
                if "seq" not in data:
                    break
                newest = data["seq"]
                seqs = [m["seq"] for m in data.get("messages", [])]
                replayed.update(seqs)
                if not data.get("more") or not seqs:
                    break
                since = seqs[-1]
            if newest is None:
                continue
            missing = set(range(base + 1, newest + 1)) - self.seen[channel]
            self.stats.missing_live += len(missing)
            self.stats.filled_by_history += len(missing & replayed)
            self.stats.unfillable += len(missing - replayed)
            row = self.stats.channels.setdefault(channel, [0, 0, 0, 0, 0])
            expected = set(range(base + 1, newest + 1))
            row[0] += len(expected)  # pushes expected (from seq)
            row[1] += len(expected & self.seen[channel])  # received live
            row[2] += self.duplicates[channel]
            row[3] += len(missing & replayed)  # read back from history
            row[4] += len(missing - replayed)  # lost

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                message = json.loads(frame.data)
            except ValueError:
                self.stats.gateway_errors["not JSON"] += 1
                continue
            self.on_message(message)
        self.stats.disconnects[str(ws.close_code)] += 1

    def on_message(self, message: dict[str, Any]) -> None:
        message_id = message.get("id")
        if isinstance(message_id, str) and message_id in self.replies:
            self.replies[message_id].set_result(message)
            return
        if isinstance(message_id, str) and message_id in self.pending:
            began, hostile = self.pending.pop(message_id)
            self.record_reply(message, time.monotonic() - began, hostile)
            return
        kind = message.get("type")
        if kind == "chat.message":
            self.stats.pushes += 1
            seqs = self.seen[message["channel"]]
            if message["seq"] in seqs:
                self.stats.duplicates += 1
                self.duplicates[message["channel"]] += 1
            seqs.add(message["seq"])
        elif kind == "presence":
            self.stats.presence += 1
        elif kind == "soak.broadcast":
            self.stats.broadcasts[str(message["n"])] += 1
        elif "error" in message and message_id is None:
            # invalid_json: the server could not read the id; the oldest hostile one it was.
            self.record_unmatched(message)
        elif "message" in message and "connectionId" in message:
            # API Gateway's own error frame ("Internal server error"): it names no id.
            self.stats.gateway_errors[message["message"]] += 1
            self.stats.timeline[str(int(time.time()))] += 1
            if self.pending:
                oldest = min(self.pending, key=lambda key: self.pending[key][0])
                self.pending.pop(oldest)
        else:
            self.stats.gateway_errors["unexpected frame"] += 1
            if len(self.stats.unexpected_frames) < 5:
                self.stats.unexpected_frames.append(json.dumps(message)[:300])

    def record_unmatched(self, message: dict[str, Any]) -> None:
        """An error reply without id: the oldest malformed message this client sent."""
        while self.malformed:
            message_id = self.malformed.pop(0)
            if message_id in self.pending:
                began, _ = self.pending.pop(message_id)
                self.record_reply(message, time.monotonic() - began, True)
                return
        self.stats.gateway_errors["unmatched error"] += 1

    def record_reply(self, message: dict[str, Any], latency: float, hostile: bool) -> None:
        self.stats.replies += 1
        error = message.get("error")
        if hostile:
            self.stats.hostile_latencies.append(latency)
            self.stats.hostile_codes[error["code"] if error else "accepted"] += 1
            return
        self.stats.latencies.append(latency)
        if message.get("action") == "chat.send":
            self.stats.send_latencies.append(latency)
        if error:
            self.stats.error_codes[error.get("code", "?")] += 1
            self.stats.timeline[str(int(time.time()))] += 1


async def main(plan: dict[str, Any]) -> Stats:
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [Client(spec, plan, stats) for spec in plan["clients"]]
        tasks = []
        for client in clients:  # a ramp, not a thundering herd of handshakes
            tasks.append(asyncio.create_task(client.run(session)))
            await asyncio.sleep(plan["ramp_seconds"] / max(1, len(clients)))
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats


if __name__ == "__main__":
    plan_path, result_path = sys.argv[1], sys.argv[2]
    with open(plan_path) as file:
        soak_plan = json.load(file)
    result = asyncio.run(main(soak_plan))
    with open(result_path, "w") as file:
        json.dump(vars(result), file)
