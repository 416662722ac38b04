"""The event pipeline's targets (issue 12), as ratios against the floor measured in the same run.

The floor is /work/shared/bench-floor: a bare Django view that parses the JSON and INSERTs one row
per event (uuid primary key; batches through executemany) into its own PostgreSQL database. Both it
and the app run under gunicorn -w 3 (sync workers), loaded by wrk -t2 (-c16 single events with the
floor's track.lua, -c8 batches of 100 with its batch.lua); returning devices are the floor scripts'
pool of 500 (`known-0` … `known-499`), each sent once with a browser user agent and stitched before
the run; new devices send a visitor id never seen before in every event (bench/pipeline.lua, the
same body as track.lua). CLARM_STITCH_INLINE is off: the edge only appends.

Scenarios (each writes bench/results/pipeline-<scenario>.md and .json):

- `edge`: floor single, app single (returning), app single (new), floor batch, app batch; a fresh
  server per run, interleaved rounds; `--stitcher` runs one `manage.py stitch` next to the app.
- `stitch`: one stitcher's rate: the queue is pre-filled through the edge (no stitcher), then the
  stitcher starts while wrk sends the single-event load; events stored per second while the queue
  is not empty, for returning and for new devices.
- `lag`: a stitcher running, ~1,000 events/s offered (paced wrk); every stored event's lag (the
  database's clock when a poller first sees its row, minus its received_at), /metrics' quantiles,
  and probes through the read API (202 → the event on GET /api/customers/<id>/timeline).
- `soak`: many events in batches through the edge from a Python sender that records every message
  id answered 202; a stitcher SIGKILLed and restarted mid-run; once the queue is empty, every
  accepted id must be stored exactly once.

    .venv/bin/python bench/pipeline.py edge [--seconds 10] [--rounds 1] [--stitcher]
    .venv/bin/python bench/pipeline.py stitch [--prefill-seconds 10] [--seconds 30]
    .venv/bin/python bench/pipeline.py lag [--seconds 60] [--rate 1000]
    .venv/bin/python bench/pipeline.py soak [--events 1000000]
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    RESULTS,
    ROOT,
    Stitcher,
    bench_env,
    gunicorn,
    loadavg,
    machine_facts,
    manage,
    process_cpu,
    psycopg_url,
)

FLOOR_DIR = Path(os.environ.get("PIPE_FLOOR_DIR", "/work/shared/bench-floor"))
LUA = ROOT / "bench" / "pipeline.lua"
APP_PORT = int(os.environ.get("PIPE_APP_PORT", "8906"))
FLOOR_PORT = int(os.environ.get("PIPE_FLOOR_PORT", "8907"))
REDIS_PORT = int(os.environ.get("PIPE_REDIS_PORT", "6379"))
REDIS_DB = 3
APP_DB = os.environ.get("PIPE_DB", "clarm_pipebench")
FLOOR_DB = os.environ.get("PIPE_FLOOR_DB", "clarm_pipebench_floor")
METRICS_TOKEN = "bench-metrics-token"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
STATE = RESULTS / "pipeline-state.json"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


# ---------------------------------------------------------------- setup


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def app_env() -> dict[str, str]:
    env = bench_env(database_url(APP_DB))
    env.update(
        REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}",
        CLARM_STITCH_INLINE="False",
        CLARM_METRICS_TOKEN=METRICS_TOKEN,
    )
    return env


def floor_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(FLOOR_DB=FLOOR_DB, DJANGO_SETTINGS_MODULE="floor_settings", PYTHONPATH=str(FLOOR_DIR))
    env.pop("DATABASE_URL", None)
    return env


def sql(query: str, params: Any = None, db: str = APP_DB) -> list[tuple]:
    with psycopg.connect(psycopg_url(database_url(db)), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def one(query: str, params: Any = None, db: str = APP_DB) -> Any:
    return sql(query, params, db)[0][0]


def setup() -> dict[str, Any]:
    """Fresh app and floor databases, a workspace, and the pool of 500 returning devices (sent with a
    browser user agent and stitched) plus one probe customer for the read API."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in (APP_DB, FLOOR_DB):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    sql(
        "CREATE TABLE ev (id uuid primary key, vid text, name text, props jsonb, at timestamptz default now())",
        db=FLOOR_DB,
    )
    import redis

    redis.Redis(host="127.0.0.1", port=REDIS_PORT, db=REDIS_DB).flushdb()
    env = app_env()
    manage(env, "migrate", "--noinput")
    created = json.loads(manage(env, "createworkspace", "Bench Shop", "--owner-email", "bench@example.com", "--json"))
    state = {"write_key": created["write_key"], "secret_key": created["secret_key"], "workspace_id": created["id"]}
    with gunicorn(env, APP_PORT, workers=3, name="pipeline-setup") as server:
        for start in range(0, 500, 250):
            batch = [
                {
                    "event": "page_view",
                    "visitor_id": f"known-{d}",
                    "session_id": f"s-known-{d}",
                    "url": "https://shop.example/",
                    "user_agent": BROWSER_UA,
                    "message_id": f"setup-{d}",
                }
                for d in range(start, start + 250)
            ]
            r = httpx.post(
                f"{server.base}/api/track",
                headers={"X-Clarm-Key": state["write_key"]},
                json={"batch": batch},
                timeout=60,
            )
            r.raise_for_status()
        r = httpx.post(
            f"{server.base}/api/track",
            headers={"X-Clarm-Key": state["write_key"]},
            json={
                "event": "identify",
                "user_id": "probe-user",
                "visitor_id": "probe-device",
                "message_id": "setup-probe",
            },
            timeout=60,
        )
        r.raise_for_status()
    manage(env, "stitch", "--once")
    state["probe_customer"] = one(
        "SELECT customer_id FROM tracking_event WHERE message_id = 'setup-probe' AND customer_id IS NOT NULL"
    )
    sql("ANALYZE")
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state))
    return state


def load_state(fresh: bool) -> dict[str, Any]:
    if fresh or not STATE.exists():
        return setup()
    return json.loads(STATE.read_text())


# ---------------------------------------------------------------- wrk

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk_run(
    url: str, script: Path, *, seconds: float, connections: int, env: dict[str, str], threads: int = 2
) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        env=dict(os.environ, **env),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    res: dict[str, float] = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = float(sum(int(x) for x in m.groups())) if m else 0.0
    return res


def access_log_statuses(path: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            head = line.split(" ", 1)[0]
            if head.isdigit():
                counts[int(head)] = counts.get(int(head), 0) + 1
    return counts


def server_pids(port: int) -> list[int]:
    """The gunicorn master and workers bound to this port (their command line names it)."""
    needle = f"127.0.0.1:{port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"gunicorn" in cmdline and needle in cmdline:
                pids.append(int(entry.name))
    return pids


def backend_pids(db: str) -> list[int]:
    return [int(pid) for (pid,) in sql("SELECT pid FROM pg_stat_activity WHERE datname = %s", [db], db=db)]


def cpu_of(pids: list[int]) -> dict[int, float]:
    return {pid: process_cpu(pid) for pid in pids}


def pending_count() -> int:
    return int(one("SELECT count(*) FROM tracking_pendingevent"))


def events_count() -> int:
    return int(one("SELECT count(*) FROM tracking_event"))


def write_report(name: str, lines: list[str], data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    print("\n" + text, flush=True)
    (RESULTS / f"pipeline-{name}.md").write_text(text + "\n")
    (RESULTS / f"pipeline-{name}.json").write_text(json.dumps(data, indent=2, default=str))


def facts_line(facts: dict[str, str]) -> str:
    return (
        f"Machine: {facts['nproc']} cores, {facts['cpu']}; PostgreSQL {facts['postgresql']}; Python "
        f"{facts['python']}; {facts['wrk']}; {facts['date']}; load average at start {loadavg():.1f}"
    )


# ---------------------------------------------------------------- edge


def edge(args: argparse.Namespace) -> None:
    facts = machine_facts()
    state = load_state(args.fresh)
    env = app_env()
    key = state["write_key"]
    runs: list[dict[str, Any]] = []
    scenarios = [
        ("floor single", "floor", FLOOR_DIR / "track.lua", 16, {}, 1),
        ("app single returning", "app", FLOOR_DIR / "track.lua", 16, {}, 1),
        ("app single new", "app", LUA, 16, {"PIPE_DEVICES": "new"}, 1),
        ("floor batch100", "floor", FLOOR_DIR / "batch.lua", 8, {}, 100),
        ("app batch100", "app", FLOOR_DIR / "batch.lua", 8, {}, 100),
    ]
    for round_no in range(args.rounds):
        order = scenarios if round_no % 2 == 0 else list(reversed(scenarios))
        for name, side, script, conns, extra, batch in order:
            tag = f"r{round_no}{name.replace(' ', '')}{int(time.time())}"
            lua_env = {"WRITE_KEY": key, "PIPE_RUN": tag, **extra}
            if side == "app":
                sql("TRUNCATE tracking_pendingevent")
                server_cm = gunicorn(env, APP_PORT, workers=3, name="pipeline-app")
            else:
                server_cm = gunicorn(
                    floor_env(), FLOOR_PORT, workers=3, name="pipeline-floor", app="floor_wsgi:application"
                )
            stitcher = Stitcher(env) if (side == "app" and args.stitcher) else None
            with server_cm as server:
                if stitcher:
                    stitcher.start()
                    time.sleep(2)
                wrk_run(server.base, script, seconds=2, connections=conns, env={**lua_env, "PIPE_RUN": tag + "w"})
                events_before = events_count() if side == "app" else 0
                load_before = loadavg()
                # CPU seconds of the server's processes and of its database's backends (persistent
                # connections: the same backends for the whole run; with --stitcher, its backend too).
                watched = server_pids(APP_PORT if side == "app" else FLOOR_PORT) + backend_pids(
                    APP_DB if side == "app" else FLOOR_DB
                )
                cpu_before = cpu_of(watched)
                res: dict[str, Any] = wrk_run(server.base, script, seconds=args.seconds, connections=conns, env=lua_env)
                cpu_after = cpu_of(watched)
                res["loadavg"] = max(load_before, loadavg())
                res["cpu_s"] = sum(max(0.0, cpu_after[p] - cpu_before[p]) for p in watched)
                res["cpu_ms_per_event"] = res["cpu_s"] * 1000 / max(1.0, res["requests"] * batch)
                if stitcher:
                    res["stitched_during"] = events_count() - events_before
                    res["pending_after"] = pending_count()
                    stitcher.stop()
            statuses = access_log_statuses(server.access_log)
            res.update(name=name, side=side, batch=batch, round=round_no, events_per_s=res["requests_per_s"] * batch)
            res["server_statuses"] = statuses
            runs.append(res)
            print(
                f"round {round_no} {name}: {res['events_per_s']:.0f} events/s, p50 {res['p50_ms']:.1f} ms, "
                f"p99 {res['p99_ms']:.1f} ms, non-2xx {res['non2xx']:.0f}, load {res['loadavg']:.1f}"
                + (f", stitched during {res['stitched_during']}" if stitcher else ""),
                flush=True,
            )

    def of(name: str, r: int) -> dict[str, Any]:
        return next(x for x in runs if x["name"] == name and x["round"] == r)

    ratios: dict[str, list[float]] = {}
    for r in range(args.rounds):
        fs, fb = of("floor single", r), of("floor batch100", r)
        for kind in ("returning", "new"):
            app = of(f"app single {kind}", r)
            ratios.setdefault(f"single_{kind}_rate", []).append(app["events_per_s"] / fs["events_per_s"])
            ratios.setdefault(f"single_{kind}_p99", []).append(app["p99_ms"] / fs["p99_ms"])
        ratios.setdefault("batch_rate", []).append(of("app batch100", r)["events_per_s"] / fb["events_per_s"])
        for kind in ("returning", "new"):
            ratios.setdefault(f"single_{kind}_cpu", []).append(
                of(f"app single {kind}", r)["cpu_ms_per_event"] / fs["cpu_ms_per_event"]
            )
        ratios.setdefault("batch_cpu", []).append(of("app batch100", r)["cpu_ms_per_event"] / fb["cpu_ms_per_event"])
    summary = {k: statistics.median(v) for k, v in ratios.items()}
    mode = "one stitcher running" if args.stitcher else "no stitcher running"
    lines = [
        facts_line(facts),
        f"Command: `{facts['command']}` ({mode}; gunicorn -w 3 for both; a fresh server per run, 2 s warm-up, "
        f"then wrk -t2 -d{args.seconds}s, -c16 single, -c8 batches of 100; {args.rounds} interleaved round(s))",
        "",
        "| round | scenario | events/s | p50 ms | p90 ms | p99 ms | non-2xx | server answers | load avg "
        "| CPU ms per event (server + its PG backends) |"
        + (" stitched during run | pending after |" if args.stitcher else ""),
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if args.stitcher else ""),
    ]
    for x in runs:
        lines.append(
            f"| {x['round']} | {x['name']} | {x['events_per_s']:.0f} | {x['p50_ms']:.2f} | {x['p90_ms']:.2f} | "
            f"{x['p99_ms']:.2f} | {x['non2xx']:.0f} | {x['server_statuses']} | {x['loadavg']:.1f} | "
            f"{x['cpu_ms_per_event']:.2f} |"
            + (f" {x.get('stitched_during', '')} | {x.get('pending_after', '')} |" if args.stitcher else "")
        )
    checks = {
        "single_returning_rate": ("single, returning devices: events/s app / floor", ">= 0.85", lambda v: v >= 0.85),
        "single_returning_p99": ("single, returning devices: p99 app / floor", "<= 1.5", lambda v: v <= 1.5),
        "single_new_rate": ("single, new devices: events/s app / floor", ">= 0.85", lambda v: v >= 0.85),
        "single_new_p99": ("single, new devices: p99 app / floor", "<= 1.5", lambda v: v <= 1.5),
        "batch_rate": ("batch of 100: events/s app / floor", ">= 0.7", lambda v: v >= 0.7),
    }
    lines += ["", "| ratio (median over rounds) | value | per round | target | met |", "|---|---|---|---|---|"]
    for k, (label, target, ok) in checks.items():
        per = ", ".join(f"{v:.2f}" for v in ratios[k])
        lines.append(f"| {label} | {summary[k]:.2f} | {per} | {target} | {'yes' if ok(summary[k]) else 'NO'} |")
    for k, label in (
        ("single_returning_cpu", "single, returning devices: CPU per event app / floor"),
        ("single_new_cpu", "single, new devices: CPU per event app / floor"),
        ("batch_cpu", "batch of 100: CPU per event app / floor"),
    ):
        per = ", ".join(f"{v:.2f}" for v in ratios[k])
        lines.append(
            f"| {label} (not a target: explains the rates on a shared machine) | {summary[k]:.2f} | {per} | | |"
        )
    write_report("edge-stitcher" if args.stitcher else "edge", lines, {"facts": facts, "runs": runs, "ratios": ratios})


# ---------------------------------------------------------------- stitch rate


def stitch(args: argparse.Namespace) -> None:
    facts = machine_facts()
    state = load_state(args.fresh)
    env = app_env()
    key = state["write_key"]
    results = []
    for kind in args.kinds.split(","):
        sql("TRUNCATE tracking_pendingevent")
        tag = f"s{kind[0]}{int(time.time())}"
        with gunicorn(env, APP_PORT, workers=3, name="pipeline-app") as server:
            # Pre-fill the queue through the edge, no stitcher running.
            prefill_env = {"WRITE_KEY": key, "PIPE_RUN": tag + "f", "PIPE_DEVICES": kind, "PIPE_BATCH": "100"}
            wrk_run(server.base, LUA, seconds=args.prefill_seconds, connections=8, env=prefill_env)
            prefilled = pending_count()
            events_start = events_count()
            samples: list[tuple[float, int, int]] = []
            stop = threading.Event()
            load_env = {"WRITE_KEY": key, "PIPE_RUN": tag + "l", "PIPE_DEVICES": kind}
            web: dict[str, Any] = {}

            def web_load(web: dict[str, Any] = web, load_env: dict[str, str] = load_env, stop: Any = stop) -> None:
                web.update(wrk_run(server.base, LUA, seconds=args.seconds, connections=16, env=load_env))
                stop.set()

            load_before = loadavg()
            with Stitcher(env):
                t0 = time.monotonic()
                loader = threading.Thread(target=web_load)
                loader.start()
                while not stop.is_set():
                    samples.append((time.monotonic() - t0, events_count() - events_start, pending_count()))
                    time.sleep(1)
                loader.join()
                samples.append((time.monotonic() - t0, events_count() - events_start, pending_count()))
            load_after = loadavg()
        # The stitcher's rate while it had work waiting the whole interval (the queue never emptied).
        busy = [s for s in samples if s[2] > 0]
        last = busy[-1] if busy else samples[-1]
        rate = last[1] / last[0] if last[0] else 0.0
        res = {
            "kind": kind,
            "prefilled": prefilled,
            "stored": samples[-1][1],
            "seconds": samples[-1][0],
            "busy_seconds": last[0],
            "stitch_events_per_s": rate,
            "pending_end": samples[-1][2],
            "web_events_per_s": web.get("requests_per_s", 0.0),
            "web_p99_ms": web.get("p99_ms", 0.0),
            "loadavg": max(load_before, load_after),
            "samples": samples,
        }
        results.append(res)
        print(
            f"{kind}: pre-filled {prefilled}, stitcher stored {res['stored']} in {res['seconds']:.1f} s; "
            f"{rate:.0f} events/s while the queue was not empty ({last[0]:.1f} s); web {res['web_events_per_s']:.0f}/s",
            flush=True,
        )
    targets = {"known": 5000, "new": 2000}
    lines = [
        facts_line(facts),
        f"Command: `{facts['command']}` (queue pre-filled through the edge by wrk -c8 batches of 100 for "
        f"{args.prefill_seconds} s, then one `manage.py stitch` "
        f"(CLARM_STITCH_BATCH={os.environ.get('CLARM_STITCH_BATCH', 1000)}) "
        f"while wrk -t2 -c16 sends single events for {args.seconds} s)",
        "",
        "| devices | pre-filled | stored by the stitcher | s (queue not empty) | stitched events/s "
        "| web single events/s meanwhile | web p99 ms | pending at end | load avg | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = targets.get(r["kind"], 0)
        lines.append(
            f"| {'returning' if r['kind'] == 'known' else 'new'} | {r['prefilled']} | {r['stored']} | "
            f"{r['busy_seconds']:.1f} | "
            f"{r['stitch_events_per_s']:.0f} | {r['web_events_per_s']:.0f} | {r['web_p99_ms']:.1f} | "
            f"{r['pending_end']} | "
            f"{r['loadavg']:.1f} | >= {t} | {'yes' if r['stitch_events_per_s'] >= t else 'NO'} |"
        )
    write_report("stitch", lines, {"facts": facts, "results": results})


# ---------------------------------------------------------------- lag


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


def lag(args: argparse.Namespace) -> None:
    facts = machine_facts()
    state = load_state(args.fresh)
    env = app_env()
    key = state["write_key"]
    sql("TRUNCATE tracking_pendingevent")
    tag = f"lag{int(time.time())}"
    connections = 16
    # --batch N: N events per request (the snippet's and SDKs' batches), so a rate the edge cannot
    # offer in single events on this machine can still be offered to the stitcher.
    delay_ms = connections * 1000 * args.batch / args.rate
    lags: list[float] = []
    probes: list[float] = []
    probe_misses = [0]
    stop = threading.Event()

    def poll_rows() -> None:
        with psycopg.connect(psycopg_url(database_url(APP_DB)), autocommit=True) as conn:
            last = conn.execute("SELECT coalesce(max(id), 0) FROM tracking_event").fetchone()[0]  # type: ignore[index]
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT id, extract(epoch FROM clock_timestamp() - received_at) FROM tracking_event "
                    "WHERE id > %s AND message_id LIKE %s ORDER BY id",
                    (last, tag + "%"),
                ).fetchall()
                for row_id, seconds in rows:
                    lags.append(float(seconds))
                    last = max(last, row_id)
                time.sleep(0.02)

    def probe(base: str) -> None:
        client = httpx.Client(timeout=60)
        n = 0
        customer = state["probe_customer"]
        while not stop.is_set():
            n += 1
            message_id = f"{tag}probe-{n}"
            # Each probe is the customer's oldest event (timeline: oldest first), so limit=1 shows it.
            # (earlier than every probe before it, of this run or any earlier one; the timeline API
            # shows no message id, so the probe names itself in its properties).
            at = (datetime(2020, 1, 1, tzinfo=UTC) - timedelta(seconds=time.time() - 1_700_000_000)).isoformat()
            body = {
                "event": "probe",
                "user_id": "probe-user",
                "timestamp": at,
                "message_id": message_id,
                "properties": {"probe": message_id},
            }
            try:
                r = client.post(f"{base}/api/track", headers={"X-Clarm-Key": key}, json=body)
            except httpx.HTTPError:
                probe_misses[0] += 1
                continue
            answered = time.monotonic()
            if r.status_code != 202:
                probe_misses[0] += 1
                continue
            while time.monotonic() - answered < 30:
                try:
                    t = client.get(
                        f"{base}/api/customers/{customer}/timeline",
                        params={"limit": 1},
                        headers={"Authorization": f"Bearer {state['secret_key']}"},
                    )
                    results = t.json().get("results") or []
                except (httpx.HTTPError, ValueError):
                    results = []
                if results and (results[0].get("properties") or {}).get("probe") == message_id:
                    probes.append(time.monotonic() - answered)
                    break
                time.sleep(0.02)
            else:
                probe_misses[0] += 1
            time.sleep(0.2)

    with gunicorn(env, APP_PORT, workers=3, name="pipeline-app") as server, Stitcher(env):
        time.sleep(2)
        wrk_run(
            server.base,
            LUA,
            seconds=2,
            connections=connections,
            env={
                "WRITE_KEY": key,
                "PIPE_RUN": tag + "w",
                "PIPE_DELAY_MS": str(int(delay_ms)),
                "PIPE_BATCH": str(args.batch),
            },
        )
        threads = [threading.Thread(target=poll_rows), threading.Thread(target=probe, args=(server.base,))]
        for t in threads:
            t.start()
        load_before = loadavg()
        res = wrk_run(
            server.base,
            LUA,
            seconds=args.seconds,
            connections=connections,
            env={
                "WRITE_KEY": key,
                "PIPE_RUN": tag,
                "PIPE_DEVICES": args.devices,
                "PIPE_DELAY_MS": str(int(delay_ms)),
                "PIPE_BATCH": str(args.batch),
            },
        )
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join()
        metrics = httpx.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
        status = httpx.get(
            f"{server.base}/api/status", headers={"Authorization": f"Bearer {state['secret_key']}"}
        ).json()
        load = max(load_before, loadavg())
    metric_lines = [
        line for line in metrics.splitlines() if line.startswith("clarm_stitch_lag") or line.startswith("clarm_events")
    ]
    out = {
        "offered_events_per_s": res["requests_per_s"] * args.batch,
        "events_per_request": args.batch,
        "edge_p99_ms": res["p99_ms"],
        "rows": len(lags),
        "lag_p50": quantile(lags, 0.5),
        "lag_p95": quantile(lags, 0.95),
        "lag_p99": quantile(lags, 0.99),
        "lag_max": max(lags) if lags else float("nan"),
        "probes": len(probes),
        "probe_misses": probe_misses[0],
        "probe_p50": quantile(probes, 0.5),
        "probe_p95": quantile(probes, 0.95),
        "probe_p99": quantile(probes, 0.99),
        "probe_max": max(probes) if probes else float("nan"),
        "metrics": metric_lines,
        "status": status,
        "loadavg": load,
    }
    lines = [
        facts_line(facts),
        f"Command: `{facts['command']}` (one stitcher; wrk -t2 -c{connections} "
        f"{'single events' if args.batch == 1 else f'requests of {args.batch} events'}, "
        f"{'returning' if args.devices == 'known' else 'new'} devices, each connection pausing {delay_ms:.0f} ms "
        f"before each request, for {args.seconds} s; a poller reads new event rows every 20 ms; a probe every 0.2 s "
        f"through the read API)",
        "",
        "| measure | n | p50 s | p95 s | p99 s | max s | target | met |",
        "|---|---|---|---|---|---|---|---|",
        f"| stitch lag: received_at → row visible (database clock) | {out['rows']} | {out['lag_p50']:.3f} | "
        f"{out['lag_p95']:.3f} | {out['lag_p99']:.3f} | {out['lag_max']:.3f} | p99 <= 1 s | "
        f"{'yes' if out['lag_p99'] <= 1 else 'NO'} |",
        "| read API: 202 → event on GET /api/customers/<id>/timeline | "
        f"{out['probes']} (missed {out['probe_misses']}) | "
        f"{out['probe_p50']:.3f} | {out['probe_p95']:.3f} | {out['probe_p99']:.3f} | {out['probe_max']:.3f} | "
        "p99 <= 1 s | "
        f"{'yes' if out['probe_p99'] <= 1 and not out['probe_misses'] else 'NO'} |",
        "",
        f"Offered: {out['offered_events_per_s']:.0f} events/s (edge p99 {out['edge_p99_ms']:.1f} ms); "
        f"load average {load:.1f}. "
        f"/metrics at the end: {'; '.join(metric_lines)}. /api/status: {json.dumps(status)}",
    ]
    write_report(f"lag-{args.devices}", lines, {"facts": facts, **out})


# ---------------------------------------------------------------- soak


def soak(args: argparse.Namespace) -> None:
    facts = machine_facts()
    state = load_state(args.fresh)
    env = app_env()
    key = state["write_key"]
    sql("TRUNCATE tracking_pendingevent")
    tag = f"soak{int(time.time())}"
    per_request = 500
    requests_total = args.events // per_request
    accepted_path = RESULTS / "pipeline-soak-accepted.txt"
    accepted_lock = threading.Lock()
    accepted_requests: list[int] = []
    retries = [0]
    failures = [0]
    next_request = [0]
    sent_events = [0]

    def body_of(n: int) -> bytes:
        events = [
            {
                "event": "page_view",
                "visitor_id": f"known-{(n * per_request + i) % 500}" if i % 50 else f"new-{tag}-{n}-{i}",
                "session_id": f"s-known-{(n * per_request + i) % 500}",
                "url": f"https://shop.example/p/{i % 50}",
                "user_agent": BROWSER_UA,
                "properties": {"title": "Pricing"},
                "message_id": f"{tag}-{n}-{i}",
            }
            for i in range(per_request)
        ]
        return json.dumps({"batch": events}).encode()

    def sender(base: str) -> None:
        client = httpx.Client(timeout=60, headers={"X-Clarm-Key": key, "Content-Type": "application/json"})
        while True:
            with accepted_lock:
                n = next_request[0]
                if n >= requests_total:
                    return
                next_request[0] += 1
            body = body_of(n)
            for _attempt in range(10):
                try:
                    r = client.post(f"{base}/api/track", content=body)
                except httpx.HTTPError:
                    retries[0] += 1
                    time.sleep(0.5)
                    continue
                if r.status_code == 202:
                    payload = r.json()
                    with accepted_lock:
                        accepted_requests.append(n)
                        sent_events[0] += payload["accepted"] + payload["duplicates"]
                    break
                retries[0] += 1
                time.sleep(0.5)
            else:
                failures[0] += 1

    events_start = events_count()
    kills: list[dict[str, Any]] = []
    t0 = time.monotonic()
    load_samples: list[float] = []
    with gunicorn(env, APP_PORT, workers=3, name="pipeline-soak") as server:
        stitcher = Stitcher(env, log="pipeline-soak-stitcher")
        stitcher.start()
        threads = [threading.Thread(target=sender, args=(server.base,)) for _ in range(args.senders)]
        for t in threads:
            t.start()
        # SIGKILL the stitcher when a third and two thirds of the events are stored (mid-batch: a
        # batch takes seconds here), restart it 2 s later.
        expected = requests_total * per_request
        kill_at = [int(expected * f) for f in (0.33, 0.66)]
        send_s = 0.0
        while True:
            time.sleep(1)
            load_samples.append(loadavg())
            stored_now, pending = events_count() - events_start, pending_count()
            sending = any(t.is_alive() for t in threads)
            if not sending and not send_s:
                send_s = time.monotonic() - t0
            if kill_at and stored_now >= kill_at[0]:
                kill_at.pop(0)
                stitcher.stop(signal.SIGKILL)
                kills.append(
                    {"at_s": round(time.monotonic() - t0, 1), "pending_at_kill": pending, "stored": stored_now}
                )
                print(
                    f"SIGKILL the stitcher at {kills[-1]['at_s']} s ({stored_now} stored, {pending} pending); "
                    "restart in 2 s",
                    flush=True,
                )
                time.sleep(2)
                stitcher.start()
            print(
                f"{time.monotonic() - t0:.0f} s: accepted {len(accepted_requests) * per_request}, "
                f"stored {stored_now}, pending {pending}",
                flush=True,
            )
            if not sending and pending == 0:
                break
        drain_s = time.monotonic() - t0
        stitcher.stop()
    accepted_ids = [f"{tag}-{n}-{i}" for n in sorted(accepted_requests) for i in range(per_request)]
    accepted_path.write_text("\n".join(accepted_ids) + "\n")
    with psycopg.connect(psycopg_url(database_url(APP_DB)), autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE accepted (message_id text PRIMARY KEY)")
        with conn.cursor().copy("COPY accepted (message_id) FROM STDIN") as copy:
            for mid in accepted_ids:
                copy.write_row((mid,))
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM tracking_event WHERE message_id LIKE %s", (tag + "-%",)
        ).fetchone()  # type: ignore[misc]
        lost = conn.execute(
            "SELECT count(*) FROM accepted a WHERE NOT EXISTS "
            "(SELECT 1 FROM tracking_event e WHERE e.workspace_id = %s AND e.message_id = a.message_id)",
            (state["workspace_id"],),
        ).fetchone()[0]  # type: ignore[index]
        extra = conn.execute(
            "SELECT count(*) FROM tracking_event e WHERE e.message_id LIKE %s AND NOT EXISTS "
            "(SELECT 1 FROM accepted a WHERE a.message_id = e.message_id)",
            (tag + "-%",),
        ).fetchone()[0]  # type: ignore[index]
        duplicated = conn.execute(
            "SELECT count(*) FROM (SELECT message_id FROM tracking_event WHERE message_id LIKE %s "
            "GROUP BY workspace_id, message_id HAVING count(*) > 1) d",
            (tag + "-%",),
        ).fetchone()[0]  # type: ignore[index]
        unstitched = conn.execute(
            "SELECT count(*) FROM tracking_event WHERE message_id LIKE %s AND customer_id IS NULL AND NOT is_bot",
            (tag + "-%",),
        ).fetchone()[0]  # type: ignore[index]
    out = {
        "events_offered": requests_total * per_request,
        "events_accepted": len(accepted_ids),
        "failed_requests": failures[0],
        "retries": retries[0],
        "stored": stored,
        "distinct_stored": distinct,
        "lost": lost,
        "duplicated": duplicated,
        "stored_not_accepted": extra,
        "without_customer": unstitched,
        "kills": kills,
        "send_seconds": send_s,
        "drain_seconds": drain_s,
        "events_total_after": events_count() - events_start,
        "loadavg_max": max(load_samples or [0]),
        "loadavg_mean": statistics.mean(load_samples or [0]),
    }
    lines = [
        facts_line(facts),
        f"Command: `{facts['command']}` ({args.senders} Python senders, batches of {per_request} through /api/track "
        "(49 in 50 events from the 500 returning devices, 1 in 50 from a new one), one stitcher SIGKILLed and "
        "restarted 2 s later when 33% and 66% of the events were stored)",
        "",
        "| events accepted (202) | stored | distinct message ids | lost | duplicated | stored but not accepted | "
        "failed requests | retries | send s | until queue empty s | edge events/s | end-to-end stitched events/s | "
        "load avg mean / max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {out['events_accepted']} | {stored} | {distinct} | {lost} | {duplicated} | {extra} | {failures[0]} | "
        f"{retries[0]} | {send_s:.0f} | {drain_s:.0f} | {out['events_accepted'] / send_s:.0f} | "
        f"{out['events_accepted'] / drain_s:.0f} | {out['loadavg_mean']:.1f} / {out['loadavg_max']:.1f} |",
        "",
        "Kills: " + "; ".join(f"at {k['at_s']} s with {k['pending_at_kill']} pending" for k in kills),
    ]
    write_report("soak", lines, {"facts": facts, **out})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["setup", "edge", "stitch", "lag", "soak"])
    parser.add_argument("--fresh", action="store_true", help="recreate the databases first")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--stitcher", action="store_true")
    parser.add_argument("--prefill-seconds", type=int, default=10)
    parser.add_argument("--kinds", default="known,new")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--devices", default="known")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1, help="lag: events per request")
    args = parser.parse_args()
    if args.scenario == "setup":
        setup()
        return
    {"edge": edge, "stitch": stitch, "lag": lag, "soak": soak}[args.scenario](args)


if __name__ == "__main__":
    main()
