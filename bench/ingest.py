"""Ingest throughput and latency: POST /api/track against a bare JSON-parse + one-INSERT view.

Both are served by the same gunicorn (sync workers, 2 × cores) on PostgreSQL, loaded by wrk with 16
connections, interleaved in the same run (the order alternates every round). Devices are known
(each has been seen before, in the same session), as for a site's returning traffic.

Counting: wrk stops with requests in flight and never reads their answers, so its own count is
short. The authoritative count is what the SERVER answered: gunicorn logs every answer (status
first) to an access log; once the server is quiet, 202 lines × batch size must equal the events
stored in PostgreSQL during the run, and no answer may be anything but 202. The client's count is
kept as a cross-check (never more than the server's; every 202 it read said accepted = batch size).

    .venv/bin/python bench/ingest.py [--seconds 8] [--rounds 3] [--kinds single,batch100]
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

from bench.harness import (
    RESULTS,
    Server,
    bench_env,
    fresh_database,
    gunicorn,
    loadavg,
    machine_facts,
    manage,
    psycopg_url,
    redis_flush,
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


def stored_by_run(database_url: str) -> dict[str, int]:
    """Stored events by run tag (the prefix of their message ids, `<run>-<thread>-<n>`)."""
    with psycopg.connect(psycopg_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT split_part(message_id, '-', 1), count(*) FROM tracking_event "
            "WHERE message_id IS NOT NULL GROUP BY 1"
        ).fetchall()
    return {str(tag): int(n) for tag, n in rows}


def check(res: dict[str, Any], answered: dict[int, int], stored: int) -> list[str]:
    """The server's count against the database's, and the client's as a cross-check."""
    batch = res["batch"]
    res["stored_events"] = stored
    res["server_202"] = answered.get(202, 0)
    res["server_accepted_events"] = res["server_202"] * batch
    res["server_non202"] = sum(n for status, n in answered.items() if status != 202)
    problems = []
    if stored != res["server_accepted_events"]:
        problems.append(f"stored {stored} events, the server answered 202 to {res['server_202']} × {batch}")
    if res["server_non202"] or res["non202"]:
        problems.append(f"non-202 answers: server {answered}, client {int(res['non202'])}")
    if res["short"]:
        problems.append(f"{int(res['short'])} answers accepted fewer than {batch} events")
    if res["accepted_events"] > res["server_accepted_events"]:
        problems.append("the client counted more accepted events than the server answered")
    res["problems"] = problems
    return problems


def one_run(
    server: Server,
    database_url: str,
    *,
    name: str,
    path: str,
    batch: int,
    seconds: int,
    threads: int,
    tag: str,
    connections: int = CONNECTIONS,
) -> dict[str, Any]:
    # Requests of the previous run (here: the warm-up, one connection per worker so that nothing
    # waits in the backlog) still in the server finish first.
    settle(lambda: (server.log_size(), stored_events(database_url)), database_url=database_url, quiet_s=0.5)
    load_before = loadavg()
    cpu_before, wall_before = children_cpu(), time.monotonic()
    res: dict[str, Any] = wrk(
        server.base + path,
        seconds=seconds,
        connections=connections,
        threads=threads,
        lua_env={
            "BENCH_PATH": path,
            "BENCH_DEVICES": str(DEVICES),
            "BENCH_BATCH": str(batch),
            "BENCH_RUN": tag,
        },
    )
    res["wrk_cpu_cores"] = (children_cpu() - cpu_before) / (time.monotonic() - wall_before)
    res.update(name=name, tag=tag, batch=batch, events_per_s=res["rps"] * batch, loadavg=max(load_before, loadavg()))
    return res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--kinds", default="single,batch100", help="which pairs to run: single, batch100")
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
    pairs = {k: v for k, v in pairs.items() if k in args.kinds.split(",")}
    app = "clarm.wsgi:application"
    suffix = ""
    runs: list[dict[str, Any]] = []
    log_name = f"ingest{suffix}"

    def server_for_one_run(first: bool = False) -> Any:
        return gunicorn(env, PORT, workers=args.workers, name=log_name, app=app, keep_log=not first)

    # Every run gets a fresh server (same configuration): a scenario that leaves requests queued
    # behind it (wrk stops with 16 connections open; gunicorn still serves the ones in its backlog)
    # must not eat into the next one. Stopping the server ends them: the ones being served finish
    # and are logged, the queued ones are dropped unprocessed.
    with server_for_one_run(first=True) as server:
        known_devices(server, key)
    # Planner statistics, as a live database has them (autovacuum's analyze may not have run yet on
    # tables this young): both sides are measured on the same, analyzed tables.
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute("ANALYZE")

    def measured(name: str, path: str, batch: int, tag: str, round_no: int | str) -> dict[str, Any]:
        with server_for_one_run() as server:
            warm = one_run(
                server,
                database_url,
                name=name,
                path=path,
                batch=batch,
                seconds=1,
                threads=args.wrk_threads,
                tag=f"warm{tag}",
                connections=args.workers,
            )
            warm["round"] = "warm-up"
            runs.append(warm)
            res = one_run(
                server,
                database_url,
                name=name,
                path=path,
                batch=batch,
                seconds=args.seconds,
                threads=args.wrk_threads,
                tag=tag,
            )
            res["round"] = round_no
            runs.append(res)
        # The server has stopped: its answers to both runs are all logged, their transactions over.
        answered, stored = Server(base="", access_log=server.access_log).answered_by_run(), stored_by_run(database_url)
        for r in (warm, res):
            if check(r, answered.get(r["tag"], {}), stored.get(r["tag"], 0)):
                print(f"PROBLEM {r['name']} ({r['tag']}): " + "; ".join(r["problems"]), flush=True)
        return res

    for round_no in range(args.rounds):
        for kind in pairs.values():
            order = kind if round_no % 2 == 0 else list(reversed(kind))
            for name, path, batch in order:
                res = measured(name, path, batch, f"{name.replace(' ', '')}{round_no}", round_no)
                print(
                    f"round {round_no} {name}: {res['events_per_s']:.0f} events/s, p99 {res['p99_ms']:.1f} ms, "
                    f"stored {res['stored_events']} = server {res['server_accepted_events']} "
                    f"(client saw {int(res['accepted_events'])})",
                    flush=True,
                )

    # Every server has stopped: every answer is logged and every transaction over. Count again.
    answered_all = Server(base="", access_log=RESULTS / f"{log_name}-access.log").answered_by_run()
    stored_all = stored_by_run(database_url)
    for r in runs:
        check(r, answered_all.get(r["tag"], {}), stored_all.get(r["tag"], 0))

    def of(name: str, round_no: int) -> dict[str, Any]:
        return next(r for r in runs if r["name"] == name and r["round"] == round_no)

    table_runs = [r for r in runs if r["round"] != "warm-up"]

    ratios: dict[str, list[float]] = {}
    for round_no in range(args.rounds):
        if "single" in pairs:
            track, bare = of("track single", round_no), of("bare single", round_no)
            ratios.setdefault("single_rate", []).append(track["events_per_s"] / bare["events_per_s"])
            ratios.setdefault("single_p99", []).append(track["p99_ms"] / bare["p99_ms"])
        if "batch100" in pairs:
            track, bare = of("track batch100", round_no), of("bare batch100", round_no)
            ratios.setdefault("batch_rate", []).append(track["events_per_s"] / bare["events_per_s"])
    summary = {k: statistics.median(v) for k, v in ratios.items()}

    lines = [
        f"Machine: {facts['nproc']} cores, {facts['cpu']}; PostgreSQL {facts['postgresql']}; Python {facts['python']}; "
        f"{facts['wrk']}; {facts['date']}",
        f"Command: `{facts['command']}` (gunicorn {args.workers} sync workers, a fresh server per run, "
        f"1 s warm-up then wrk -t{args.wrk_threads} -c{CONNECTIONS} -d{args.seconds}s, "
        f"{args.rounds} interleaved rounds)",
        "",
        "| round | scenario | events/s | requests/s | p50 ms | p90 ms | p99 ms | stored = server 202 × batch "
        "(client saw) | non-202 (server) | wrk CPU (cores) | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table_runs:
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
        if k not in ratios:
            continue
        per_round = ", ".join(f"{v:.2f}" for v in ratios[k])
        lines.append(f"| {label} | {summary[k]:.2f} | {per_round} | {target} | {'yes' if ok(summary[k]) else 'NO'} |")
    report = "\n".join(lines)
    print("\n" + report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ingest{suffix}.md").write_text(report + "\n")
    (RESULTS / f"ingest{suffix}.json").write_text(
        json.dumps({"facts": facts, "runs": runs, "ratios": ratios}, indent=2)
    )
    lost = [r for r in runs if r["stored_events"] != r["server_accepted_events"]]
    failed = [r for r in runs if r["server_non202"]]
    print(
        f"\nafter the server stopped, for every run (warm-ups included): stored = server 202 × batch: "
        f"{'yes' if not lost else 'NO: ' + ', '.join(r['tag'] for r in lost)}; "
        f"runs with non-202 answers: {', '.join(r['tag'] + ' ' + str(r['server_non202']) for r in failed) or 'none'}"
    )
    if lost:
        raise SystemExit(f"{len(lost)} run(s) stored a different number of events than the server accepted")


if __name__ == "__main__":
    main()
