"""Ingest throughput and latency: POST /api/track against a bare JSON-parse + one-INSERT view.

Both are served by the same gunicorn (sync workers, 2 × cores) on PostgreSQL, loaded by wrk with 16
connections, interleaved in the same run (the order alternates every round). Devices are known
(each has been seen before, in the same session), as for a site's returning traffic.

Counting: wrk stops with requests in flight and never reads their answers, so its own count is
short. The authoritative count is what the SERVER answered: gunicorn logs every answer (status
first) to an access log; once the server is quiet, 202 lines × batch size must equal the events
stored in PostgreSQL during the run, and no answer may be anything but 202. The client's count is
kept as a cross-check (never more than the server's; every 202 it read said accepted = batch size).

    .venv/bin/python bench/ingest.py [--seconds 10] [--rounds 3]
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    RESULTS,
    Server,
    bench_env,
    fresh_database,
    loadavg,
    redis_flush,
    gunicorn,
    machine_facts,
    manage,
    psycopg_url,
    settle,
    wrk,
)

DEVICES = 1000
PORT = 8799
REDIS_DB = 12
CONNECTIONS = 16
TARGETS = {"single_rate": 0.5, "single_p99": 2.0, "batch_rate": 0.4}


def stored_events(database_url: str) -> int:
    with psycopg.connect(psycopg_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM tracking_event").fetchone()
        return int(row[0]) if row else 0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def known_devices(server: Server, key: str) -> None:
    """Every device the load uses visits once through the real API (same session id as the load)."""
    for start in range(0, DEVICES, 250):
        batch = [
            {
                "event": "page_view",
                "visitor_id": f"bench-device-{d}",
                "session_id": f"bench-session-{d}",
                "url": "https://shop.example/",
            }
            for d in range(start + 1, min(start + 250, DEVICES) + 1)
        ]
        r = httpx.post(f"{server.base}/api/track", params={"key": key}, json={"batch": batch}, timeout=60)
        r.raise_for_status()


def one_run(
    server: Server, database_url: str, *, name: str, path: str, batch: int, seconds: int, threads: int, tag: str
) -> dict[str, Any]:
    offset = server.log_size()
    before = stored_events(database_url)
    load_before = loadavg()
    cpu_before, wall_before = children_cpu(), time.monotonic()
    res: dict[str, Any] = wrk(
        server.base + path,
        seconds=seconds,
        connections=CONNECTIONS,
        threads=threads,
        lua_env={
            "BENCH_PATH": path,
            "BENCH_DEVICES": str(DEVICES),
            "BENCH_BATCH": str(batch),
            "BENCH_RUN": tag,
        },
    )
    res["wrk_cpu_cores"] = (children_cpu() - cpu_before) / (time.monotonic() - wall_before)
    # Requests still inside the server when wrk stopped finish now: wait until it is quiet.
    settle(lambda: (server.log_size(), stored_events(database_url)), database_url=database_url)
    answered = server.answered_since(offset)
    stored = stored_events(database_url) - before
    server_202 = answered.get(202, 0)
    res.update(
        name=name,
        batch=batch,
        stored_events=stored,
        server_202=server_202,
        server_accepted_events=server_202 * batch,
        server_non202=sum(n for status, n in answered.items() if status != 202),
        events_per_s=res["rps"] * batch,
        loadavg=max(load_before, loadavg()),
    )
    problems = []
    if stored != res["server_accepted_events"]:
        problems.append(f"stored {stored} events, server answered 202 to {server_202} × {batch}")
    if res["server_non202"] or res["non202"]:
        problems.append(f"non-202 answers: server {answered}, client {int(res['non202'])}")
    if res["short"]:
        problems.append(f"{int(res['short'])} answers accepted fewer than {batch} events")
    if res["accepted_events"] > res["server_accepted_events"]:
        problems.append("the client counted more accepted events than the server answered")
    res["problems"] = problems
    if problems:
        print(f"PROBLEM {name} ({tag}): " + "; ".join(problems), flush=True)
    return res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--wrk-threads", type=int, default=1)
    args = parser.parse_args()
    facts = machine_facts()

    database_url = fresh_database("clarm_bench_ingest")
    env = bench_env(database_url, redis_db=REDIS_DB)
    redis_flush(REDIS_DB)
    manage(env, "migrate", "--noinput")
    created = json.loads(manage(env, "createworkspace", "Bench Shop", "--owner-email", "bench@example.com", "--json"))
    key, workspace_id = created["write_key"], created["id"]

    pairs = {
        "single": [("bare single", f"/bench/bare?ws={workspace_id}", 1), ("track single", f"/api/track?key={key}", 1)],
        "batch100": [
            ("bare batch100", f"/bench/bare?ws={workspace_id}", 100),
            ("track batch100", f"/api/track?key={key}", 100),
        ],
    }
    runs: list[dict[str, Any]] = []
    with gunicorn(env, PORT, workers=args.workers, name="ingest") as server:
        known_devices(server, key)
        for kind in pairs.values():  # warm-up: connections, caches, JIT-free but import-heavy first hits
            for name, path, batch in kind:
                one_run(server, database_url, name=name, path=path, batch=batch, seconds=2, threads=args.wrk_threads,
                        tag=f"warm{name.replace(' ', '')}")
        for round_no in range(args.rounds):
            for kind in pairs.values():
                order = kind if round_no % 2 == 0 else list(reversed(kind))
                for name, path, batch in order:
                    res = one_run(
                        server, database_url, name=name, path=path, batch=batch, seconds=args.seconds,
                        threads=args.wrk_threads, tag=f"{name.replace(' ', '')}{round_no}",
                    )
                    res["round"] = round_no
                    runs.append(res)
                    print(f"round {round_no} {name}: {res['events_per_s']:.0f} events/s, p99 {res['p99_ms']:.1f} ms, "
                          f"stored {res['stored_events']} = server {res['server_accepted_events']} "
                          f"(client saw {int(res['accepted_events'])})", flush=True)

    def of(name: str, round_no: int) -> dict[str, Any]:
        return next(r for r in runs if r["name"] == name and r["round"] == round_no)

    ratios: dict[str, list[float]] = {"single_rate": [], "single_p99": [], "batch_rate": []}
    for round_no in range(args.rounds):
        ratios["single_rate"].append(of("track single", round_no)["events_per_s"] / of("bare single", round_no)["events_per_s"])
        ratios["single_p99"].append(of("track single", round_no)["p99_ms"] / of("bare single", round_no)["p99_ms"])
        ratios["batch_rate"].append(of("track batch100", round_no)["events_per_s"] / of("bare batch100", round_no)["events_per_s"])
    summary = {k: statistics.median(v) for k, v in ratios.items()}

    lines = [
        f"Machine: {facts['nproc']} cores, {facts['cpu']}; PostgreSQL {facts['postgresql']}; Python {facts['python']}; "
        f"{facts['wrk']}; {facts['date']}",
        f"Command: `{facts['command']}` (gunicorn {args.workers} sync workers, wrk -t{args.wrk_threads} "
        f"-c{CONNECTIONS} -d{args.seconds}s, {args.rounds} interleaved rounds)",
        "",
        "| round | scenario | events/s | requests/s | p50 ms | p90 ms | p99 ms | stored = server 202 × batch "
        "(client saw) | non-202 (server) | wrk CPU (cores) | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['round']} | {r['name']} | {r['events_per_s']:.0f} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['stored_events']} = {r['server_accepted_events']} "
            f"({int(r['accepted_events'])}) | {r['server_non202']} | {r['wrk_cpu_cores']:.2f} | {r['loadavg']:.1f} |"
        )
    lines += [
        "",
        "| ratio (median of per-round ratios) | value | per round | target | met |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "single_rate": ("single event rate, track / bare", ">= 0.50", lambda v: v >= TARGETS["single_rate"]),
        "single_p99": ("single event p99, track / bare", "<= 2.00", lambda v: v <= TARGETS["single_p99"]),
        "batch_rate": ("batch of 100 rate, track / bare", ">= 0.40", lambda v: v >= TARGETS["batch_rate"]),
    }
    for k, (label, target, ok) in labels.items():
        per_round = ", ".join(f"{v:.2f}" for v in ratios[k])
        lines.append(f"| {label} | {summary[k]:.2f} | {per_round} | {target} | {'yes' if ok(summary[k]) else 'NO'} |")
    report = "\n".join(lines)
    print("\n" + report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.md").write_text(report + "\n")
    (RESULTS / "ingest.json").write_text(json.dumps({"facts": facts, "runs": runs, "ratios": ratios}, indent=2))
    lost = [r for r in runs if r["stored_events"] != r["server_accepted_events"]]
    if lost:
        raise SystemExit(f"{len(lost)} run(s) stored a different number of events than the server accepted")


if __name__ == "__main__":
    main()
