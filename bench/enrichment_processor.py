"""The enrichment processor at 1,000 events/s (issue 14): is a score current within 2 s of its event?

The events are written the way the stitcher writes them (a batch per transaction, then the
post-stitch hook `tracking.hooks.events_stitched_announce(workspace_id, event_ids)` after commit),
so what is measured is the processor and its hand-off, not the ingest request (the lead is moving
the hook call from the request into the stitcher; the request side is measured in bench/ingest.py).

Part P (processor cost, in process): `events_enrich_and_score` on one batch of N events of N
returning visitors (each with HISTORY page views in the last 30 days, their network already
checked), and on a batch of N first visits from new business networks (offline provider):
seconds per batch and events/s of one process. `--baseline-ref <git ref>` runs the same part
against that ref's `enrichment/` (checked out in a temporary worktree) in the same run, for the
ratio.

Part L (latency): real Celery workers on Redis, as in production: `--workers` prefork processes on
the enrichment queue, and one process for the other queues (the rollups the same hook feeds); this
process writes `--rate` events/s over `--pool` returning visitors, in batches every
`--tick` seconds (a stitcher batch), and a poller measures, for the first event of every batch,
the time from the batch's commit to the person's intent being computed after it (every outstanding
sample in one query every 10 ms, so a slow sample never delays the reading of the next), and the
enrichment queue's depth.

    .venv/bin/python bench/enrichment_processor.py [--parts pl] [--rate 1000] [--seconds 20]

Needs PostgreSQL on 127.0.0.1:5432 and Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6405/7).
"""

import argparse
import datetime
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, bench_env, fresh_database, manage

PATHS = ["/", "/pricing", "/demo", "/blog/a", "/contact", "/features", "/about"]
NETWORK = {"prefix": "193.99.144.0/24", "asn": "Plus.line AG", "network": "193.99.144.0/24", "country": "DE"}


def setup_people(workspace, count: int, history: int, label: str) -> list[int]:
    """`count` returning visitors, each with `history` page views over the last 30 days, their
    network checked (as after their first visit)."""
    from django.utils import timezone

    from identity.models import Customer
    from tracking.models import Event

    now = timezone.now()
    checked = {"network": {"prefix": NETWORK["prefix"], "class": "business", "checked_at": now.isoformat()}}
    people = Customer.objects.bulk_create(
        [Customer(workspace=workspace, company_profile=checked, traits={"bench": label}) for _ in range(count)]
    )
    rng = random.Random(count)
    rows = []
    for person in people:
        for _ in range(history):
            at = now - datetime.timedelta(seconds=rng.randrange(30 * 86400))
            rows.append(
                Event(
                    workspace=workspace,
                    customer=person,
                    event="page_view",
                    occurred_at=at,
                    received_at=at,
                    context={**NETWORK, "url": f"https://shop.test{rng.choice(PATHS)}"},
                )
            )
    Event.objects.bulk_create(rows, batch_size=5000)
    return [p.pk for p in people]


def analyze() -> None:
    """Statistics for the planner after loading, as autovacuum would gather them (this machine's
    PostgreSQL runs without autovacuum: without them, the processor's lookup of its events by id
    scanned the workspace's whole history, 50 ms for 200 events)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def write_batch(workspace, people: list[int], *, new_networks: bool = False, announce: bool = True) -> list[int]:
    """One stitcher batch: one page view per person, committed, then announced through the hook."""
    from django.db import transaction
    from django.utils import timezone

    from tracking.hooks import events_stitched_announce
    from tracking.models import Event

    now = timezone.now()
    rng = random.Random()
    with transaction.atomic():
        events = []
        for n, person in enumerate(people):
            context = {**NETWORK, "url": f"https://shop.test{rng.choice(PATHS)}"}
            if new_networks:  # a business network never seen (offline provider: no call, a company)
                prefix = f"10.{n // 250 % 250}.{n % 250}.0/24"
                context.update(prefix=prefix, network=prefix, asn=f"BENCH-CO-{n}-GMBH")
            events.append(
                Event(
                    workspace=workspace,
                    customer_id=person,
                    event="page_view",
                    occurred_at=now,
                    received_at=now,
                    context=context,
                )
            )
        Event.objects.bulk_create(events)
        ids = [e.pk for e in events]
        if announce:
            events_stitched_announce(workspace.pk, ids)
    return ids


def part_p(workspace, batch: int, history: int, repeats: int) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from enrichment.services import events_enrich_and_score

    out: dict = {}
    returning = setup_people(workspace, batch, history, "p-returning")
    fresh = setup_people(workspace, batch, 0, "p-new")
    analyze()
    for case, people, new in (("returning", returning, False), ("first_visits", fresh, True)):
        timings = []
        queries = 0
        for _ in range(repeats if case == "returning" else 1):
            ids = write_batch(workspace, people, new_networks=new, announce=False)
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                scored = events_enrich_and_score(workspace_id=workspace.pk, event_ids=ids)
                timings.append(time.perf_counter() - started)
            queries = len(captured.captured_queries)
            assert scored == len(people), (scored, len(people))
        best = min(timings)
        out[case] = {
            "events_per_batch": batch,
            "history_per_person": history if case == "returning" else 0,
            "seconds_per_batch_median": round(statistics.median(timings), 3),
            "seconds_per_batch_best": round(best, 3),
            "events_per_second_one_process": round(batch / statistics.median(timings), 1),
            "queries_per_batch": queries,
        }
    return out


def part_l(workspace, env, *, rate: float, seconds: float, pool: int, history: int, tick: float, workers: int) -> dict:
    from django.db import connection

    from clarm.celery_app import app
    from identity.models import Customer

    people = setup_people(workspace, pool, history, "l-returning")
    analyze()
    app.control.purge()
    # The production shape: the enrichment queue has workers of its own; the other processors the
    # hook feeds (the dashboards' rollups, destinations) run beside them on another worker.
    celery = [str(Path(sys.executable).parent / "celery"), "-A", "clarm.celery_app", "worker", "-l"]
    level = os.environ.get("BENCH_WORKER_LOG", "warning")
    worker_env = {**env, "CELERY_TASK_ALWAYS_EAGER": "0"}
    workers_started = [
        subprocess.Popen(
            [*celery, level, "-Q", "enrichment", "-c", str(workers), "-n", "enrich@%h"], cwd=ROOT, env=worker_env
        ),
        subprocess.Popen(
            [*celery, level, "-Q", "celery,rollups", "-c", "1", "-n", "rest@%h"], cwd=ROOT, env=worker_env
        ),
    ]
    samples: queue.Queue = queue.Queue()
    latencies: list[float] = []
    missed = {"n": 0}

    depth: list[int] = []

    def poll() -> None:
        """All outstanding samples in one query every 10 ms (a slow sample never delays the reading
        of the ones after it), and the queue's depth (entries not yet taken by a drain)."""
        from enrichment.queue import QUEUE_KEY
        from tracking.hotcache import redis_client

        pending: list[tuple[int, float, str]] = []
        done = False
        while not done or pending:
            while True:
                try:
                    item = samples.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                else:
                    pending.append(item)
            if pending:
                now = time.time()
                intents = dict(Customer.objects.filter(pk__in={c for c, _, _ in pending}).values_list("pk", "intent"))
                still = []
                for customer_id, committed_at, committed_iso in pending:
                    computed = (intents.get(customer_id) or {}).get("computed_at")
                    if computed and computed.replace("Z", "+00:00") >= committed_iso:
                        latencies.append(now - committed_at)
                    elif now > committed_at + 30:
                        missed["n"] += 1
                    else:
                        still.append((customer_id, committed_at, committed_iso))
                pending = still
                depth.append(redis_client().llen(QUEUE_KEY))
            time.sleep(0.01)
        connection.close()

    try:
        warm = write_batch(workspace, people[:1])  # wait until the worker scores (not counted)
        deadline = time.time() + 120
        while time.time() < deadline and not Customer.objects.filter(pk=people[0], intent_score__isnull=False).exists():
            time.sleep(0.1)
        assert warm
        poller = threading.Thread(target=poll)
        poller.start()
        per_tick = max(1, round(rate * tick))
        ticks = int(seconds / tick)
        rng = random.Random(7)
        started = time.time()
        lag = 0.0
        for n in range(ticks):
            due = started + n * tick
            if (wait := due - time.time()) > 0:
                time.sleep(wait)
            else:
                lag = max(lag, -wait)
            chosen = rng.sample(people, per_tick)
            write_batch(workspace, chosen)
            committed = time.time()
            committed_iso = datetime.datetime.fromtimestamp(committed - 0.001, datetime.UTC).isoformat()
            samples.put((chosen[0], committed, committed_iso))
        achieved = per_tick * ticks / (time.time() - started)
        samples.put(None)
        poller.join()
    finally:
        for worker in workers_started:
            worker.terminate()
        for worker in workers_started:
            worker.wait(timeout=30)
    latencies.sort()
    return {
        "offered_events_per_second": rate,
        "achieved_events_per_second": round(achieved, 1),
        "events_per_batch": per_tick,
        "batch_every_s": tick,
        "returning_visitors": pool,
        "history_per_person": history,
        "worker_processes": workers,
        "writer_max_behind_s": round(lag, 3),
        "samples": len(latencies),
        "missed_30s": missed["n"],
        "queue_depth_max": max(depth, default=0),
        "queue_depth_last_second_mean": round(statistics.mean(depth[-100:]), 1) if depth else None,
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 3) if latencies else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
    }


def baseline(ref: str, argv: list[str]) -> dict:
    """Part P against `ref`'s enrichment app: a temporary worktree of ref with this bench copied in."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT, check=True, capture_output=True
        )
        try:
            (tree / ".venv").symlink_to(ROOT / ".venv")
            (tree / "bench" / Path(__file__).name).write_text(Path(__file__).read_text())
            out = subprocess.run(
                [
                    sys.executable,
                    f"bench/{Path(__file__).name}",
                    "--parts",
                    "p",
                    "--database",
                    "clarm_bench_enrich2_base",
                    *argv,
                ],
                cwd=tree,
                check=True,
                capture_output=True,
                text=True,
            )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    return json.loads(out.stdout.strip().splitlines()[-1])["part_p"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="pl")
    parser.add_argument("--batch", type=int, default=1000, help="part p: events (people) per processor batch")
    parser.add_argument("--history", type=int, default=25, help="page views per returning visitor (30 days)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pool", type=int, default=5000)
    parser.add_argument("--tick", type=float, default=0.1, help="part l: a stitcher batch every TICK seconds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-ref", default="", help="part p: the same run against this git ref first")
    parser.add_argument("--database", default="clarm_bench_enrich2")
    args = parser.parse_args()

    results: dict = {}
    if args.baseline_ref:
        results["part_p_baseline"] = {
            "ref": args.baseline_ref,
            **baseline(
                args.baseline_ref,
                ["--batch", str(args.batch), "--history", str(args.history), "--repeats", str(args.repeats)],
            ),
        }
    env = bench_env(fresh_database(args.database))
    env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6405/7")
    manage(env, "migrate", "--noinput")
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import User

    from workspaces.services import workspace_create

    owner = User.objects.create_user("bench-owner", "owner@bench.test", "x")
    workspace, _, _ = workspace_create(name="Bench Enrich", owner=owner)
    if "p" in args.parts:
        results["part_p"] = part_p(workspace, args.batch, args.history, args.repeats)
        if "part_p_baseline" in results:
            base, now = results["part_p_baseline"], results["part_p"]
            results["ratio_new_over_baseline_events_per_second"] = {
                case: round(now[case]["events_per_second_one_process"] / base[case]["events_per_second_one_process"], 2)
                for case in now
            }
    if "l" in args.parts:
        results["part_l"] = part_l(
            workspace,
            env,
            rate=args.rate,
            seconds=args.seconds,
            pool=args.pool,
            history=args.history,
            tick=args.tick,
            workers=args.workers,
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
