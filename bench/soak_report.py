"""The soak's summary: figures, and the promises of docs/reliability.md checked against them."""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: After the last fault ends, error replies must stop within this many seconds.
RECOVERY_BOUND_SECONDS = 15
#: What API Gateway itself sends when the integration fails (no id: AWS adds none).
GATEWAY_ERRORS = {"Internal server error", "Endpoint request timed out"}


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def documented_codes() -> set[str]:
    """The library's codes (README's table, docs/) and the example chat's own (its ws.py)."""
    text = "".join(path.read_text() for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    chat = (ROOT / "example_project" / "chat" / "ws.py").read_text()
    return set(re.findall(r"`([a-z_]+)`", text)) | set(re.findall(r'WsError\(\s*"([a-z_]+)"', chat))


def merged(results: Any) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for result in results:
        for key, value in result.items():
            if isinstance(value, dict):
                total.setdefault(key, Counter()).update(value)
            elif isinstance(value, list):
                total.setdefault(key, []).extend(value)
            else:
                total[key] = total.get(key, 0) + value
    return total


def merge_channels(results: list[dict[str, Any]]) -> dict[str, list[int]]:
    channels: dict[str, list[int]] = {}
    for result in results:
        for name, row in result.get("channels", {}).items():
            total = channels.setdefault(name, [0, 0, 0, 0, 0])
            for index, value in enumerate(row):
                total[index] += value
    return channels


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    broadcasts: list[dict[str, Any]],
    rss: dict[str, dict[str, int]],
    events: list[tuple[float, str]],
    fault_windows: list[tuple[float, float]],
    enqueue_refused: list[str],
    alive: dict[str, bool],
    forged: tuple[dict[str, int], list[float]],
) -> tuple[list[tuple[str, bool, str]], str]:
    channels = merge_channels(results)
    r = merged({k: v for k, v in result.items() if k != "channels"} for result in results)
    findings: list[tuple[str, bool, str]] = []
    documented = documented_codes()
    codes = Counter(r["error_codes"])
    undocumented = sorted(code for code in codes if code not in documented)
    gateway = Counter(r["gateway_errors"])
    odd = sorted(kind for kind in gateway if kind not in GATEWAY_ERRORS)
    findings.append(
        (
            "no process needed a restart",
            all(alive.values()),
            ", ".join(f"{name}: {'up' if up else 'DEAD'}" for name, up in alive.items()),
        )
    )
    slowest = max(r["latencies"] + r["hostile_latencies"] or [0.0])
    findings.append(
        (
            "no reply later than API Gateway's 29 s integration timeout (and 1 s)",
            slowest <= 30.0,
            f"slowest {slowest:.1f} s",
        )
    )
    offered = args.clients * args.duration / args.interval
    findings.append(
        (
            "the load was offered (at least 80% of clients x duration / interval messages)",
            r["sent"] >= 0.8 * offered,
            f"{r['sent']} sent of {offered:.0f}",
        )
    )
    findings.append(
        (
            "every message got a reply or an error reply",
            r["unanswered"] == 0,
            f"{r['unanswered']} unanswered of {r['sent']}",
        )
    )
    findings.append(
        (
            "every error reply has a documented code",
            not undocumented and not odd,
            f"undocumented: {undocumented or 'none'}; other frames: {odd or 'none'}",
        )
    )
    findings.append(
        (
            "no history gap resume cannot fill",
            r["unfillable"] == 0,
            f"{r['missing_live']} pushes missed live, {r['filled_by_history']} read back "
            f"from history, {r['unfillable']} lost",
        )
    )
    received = Counter(r["broadcasts"])
    lost_broadcasts = []
    for row in broadcasts:
        counted = row["delivered"] + row["gone"] + row["failed"] + row["cancelled"]
        if (
            row["total"] is None
            or counted != row["total"]
            or received[str(row["n"])] < row["delivered"]
        ):
            lost_broadcasts.append(row["n"])
    findings.append(
        (
            "every broadcast push delivered or counted",
            not lost_broadcasts,
            f"broadcasts not adding up: {lost_broadcasts or 'none'}",
        )
    )
    flat = []
    if "middle" in rss and "end" in rss:
        for group in ("gateway", "django worker", "celery"):
            middle = sum(v for k, v in rss["middle"].items() if k.startswith(group))
            end = sum(v for k, v in rss["end"].items() if k.startswith(group))
            flat.append((group, middle, end, end <= middle * 1.10))
    findings.append(
        (
            "memory flat (end within 10% of middle)",
            all(ok for *_, ok in flat),
            "; ".join(f"{g}: {m // 1024} → {e // 1024} MiB" for g, m, e, _ in flat),
        )
    )
    timeline = Counter({int(k): v for k, v in r["timeline"].items()})
    recovery = None
    if fault_windows and timeline:
        start_epoch = min(int(k) for k in r["timeline_sent"])
        last_fault_end = max(end for _, end in fault_windows)
        # The timeline is in epoch seconds; fault windows are seconds after the ramp.
        first_second = start_epoch + args.ramp
        last_error = max(timeline) - first_second
        recovery = max(0.0, last_error - last_fault_end)
        findings.append(
            (
                f"errors stop within {RECOVERY_BOUND_SECONDS} s of the last fault",
                recovery <= RECOVERY_BOUND_SECONDS,
                f"last error {recovery:.0f} s after it",
            )
        )
    elif not fault_windows:
        findings.append(
            (
                "no error reply without faults",
                sum(codes.values()) + sum(gateway.values()) == 0,
                f"{sum(codes.values())} error replies, {sum(gateway.values())} gateway errors",
            )
        )
    else:  # faults, and not one error reply: they were all absorbed (retried)
        findings.append(
            (
                f"errors stop within {RECOVERY_BOUND_SECONDS} s of the last fault",
                True,
                "none at all",
            )
        )
    hostile_ok = r["hostile_codes"].get("accepted", 0) == 0
    # Hostile messages imitate chat.send (a 30 KB text, a foreign room) and channel.subscribe:
    # their refusal is compared with a good chat.send, the chat's one message that does work.
    good_p50 = percentile(r["send_latencies"], 0.5)
    hostile_p50 = percentile(r["hostile_latencies"], 0.5)
    findings.append(
        (
            "hostile input refused, and no dearer than a good chat.send",
            hostile_ok and not hostile_p50 > good_p50,
            f"{dict(r['hostile_codes'])}; p50 {hostile_p50 * 1000:.1f} ms "
            f"vs {good_p50 * 1000:.1f} ms",
        )
    )

    forged_statuses, forged_latencies = forged
    findings.append(
        (
            "forged secrets (and oversized forged bodies) refused 403",
            bool(forged_statuses) and set(forged_statuses) == {"403"},
            f"{forged_statuses}; p50 {percentile(forged_latencies, 0.5) * 1000:.1f} ms",
        )
    )
    faults = [
        name
        for name in ("db_cut", "redis_cut", "kill_web_worker", "management_faults", "kill_celery")
        if getattr(args, name)
    ]
    flags = (
        " --chaos"
        if len(faults) == 5
        else "".join(" --" + fault.replace("_", "-") for fault in faults)
    )
    lines = [
        f"## Soak ({time.strftime('%Y-%m-%d')}): {args.clients} clients, {args.duration:.0f} s, "
        f"faults: {', '.join(faults) or 'none'}",
        "",
        f"`python bench/soak.py --clients {args.clients} --duration {args.duration:g}"
        f"{flags}`"
        f" on this project's 2-core machine: PostgreSQL and Redis through fault proxies, gunicorn "
        f"(2 workers x {args.threads} threads), the local gateway, 2 Celery workers, "
        f"{args.client_processes} client processes; a message every {args.interval:g} s per client "
        f"(1 in {args.send_every} `chat.send`, the rest `chat.who`), {args.rooms_per_client} rooms "
        f"each of about {args.room_size}, a background broadcast to every socket every "
        f"{args.broadcast_every:g} s, {args.hostile_share:.0%} hostile clients.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| messages sent | {r['sent']} |",
        f"| replies received | {r['replies']} |",
        f"| error replies by code | {dict(codes) or 'none'} |",
        f"| gateway error frames | {dict(gateway) or 'none'} |",
        f"| reply latency p50 / p99 / max | {percentile(r['latencies'], 0.5) * 1000:.1f} / "
        f"{percentile(r['latencies'], 0.99) * 1000:.1f} / "
        f"{max(r['latencies'] or [0]) * 1000:.1f} ms |",
        f"| connect failures | {dict(r['connect_failures']) or 'none'} |",
        f"| failed subscribes (retried) by code | {dict(r['subscribe_errors']) or 'none'} |",
        f"| socket closes seen by clients (code) | {dict(r['disconnects'])} |",
        f"| chat pushes received / duplicates | {r['pushes']} / {r['duplicates']} |",
        f"| pushes missed live / read back from history / lost | {r['missing_live']} / "
        f"{r['filled_by_history']} / {r['unfillable']} |",
        f"| presence pushes | {r['presence']} |",
        f"| broadcasts enqueued / refused at enqueue | {len(broadcasts)} / "
        f"{len(enqueue_refused)} |",
        f"| hostile replies by code | {dict(r['hostile_codes'])} |",
        f"| forged-secret posts straight to Django, by status | {forged_statuses} |",
        f"| forged-secret post p50 / p99 | {percentile(forged_latencies, 0.5) * 1000:.1f} / "
        f"{percentile(forged_latencies, 0.99) * 1000:.1f} ms |",
        f"| reply p50: good `chat.send` / every good message / hostile | {good_p50 * 1000:.1f} / "
        f"{percentile(r['latencies'], 0.5) * 1000:.1f} / {hostile_p50 * 1000:.1f} ms |",
    ]
    if recovery is not None:
        lines.append(f"| last error reply after the last fault ended | {recovery:.0f} s |")
    imperfect = {name: row for name, row in channels.items() if row[0] != row[1] or row[2]}
    lines += [
        "",
        f"Pushes per channel (from `seq`), summed over each channel's clients: {len(channels)} "
        f"channels, {sum(row[0] for row in channels.values())} expected, "
        f"{sum(row[1] for row in channels.values())} received live; "
        f"{len(imperfect)} channels with a gap or a duplicate" + (":" if imperfect else "."),
        "",
    ]
    if imperfect:
        lines += [
            "| channel | expected | received live | duplicates | read back | lost |",
            "|---|---|---|---|---|---|",
        ]
        worst = sorted(imperfect.items(), key=lambda item: item[1][1] - item[1][0])[:10]
        lines += [f"| {name} | " + " | ".join(map(str, row)) + " |" for name, row in worst]
    lines += [
        "",
        "Broadcasts (n: state, total = delivered + gone + failed + cancelled, received by "
        "clients, possible duplicates):",
        "",
    ]
    for row in broadcasts:
        lines.append(
            f"- {row['n']}: {row['state']}, {row['total']} = {row['delivered']} + {row['gone']} + "
            f"{row['failed']} + {row['cancelled']}, received {received[str(row['n'])]}, "
            f"duplicates ≤ {row['possible_duplicates']}"
            f"{', ' + row['error'][:80] if row['error'] else ''}"
        )
    for refusal in enqueue_refused:
        lines.append(f"- refused at enqueue: {refusal[:160]}")
    lines += ["", "RSS (MiB) at start / middle / end:", ""]
    for name in rss.get("start", {}):
        values = " / ".join(
            str(rss.get(label, {}).get(name, 0) // 1024) for label in ("start", "middle", "end")
        )
        lines.append(f"- {name}: {values}")
    if r.get("unexpected_frames"):
        lines += ["", "Unexpected frames (first few):", ""]
        lines += [f"- `{frame}`" for frame in r["unexpected_frames"][:5]]
    lines += ["", "Events:", ""] + [f"- {at:.1f} s: {what}" for at, what in events]
    lines += ["", "Checks:", ""] + [
        f"- {'PASS' if ok else 'FAIL'}: {name} ({detail})" for name, ok, detail in findings
    ]
    return findings, "\n".join(lines) + "\n"


def check(findings: list[tuple[str, bool, str]]) -> bool:
    return all(ok for _, ok, _ in findings)
