"""The dashboard at scale (issue 16): does the page cost the same for 1,000 and 100,000 customers?

The dashboard reads only rollups (DailyCount, PersonFacts), so the bench loads customers with their
facts and eight weeks of day counts straight into the tables the migrations made (INSERT … SELECT
generate_series; no events: the page never reads them), then times `GET /w/<ws>/?range=28`
in-process (django.test.Client, logged in as the owner), interleaving the two workspaces after a
warm-up. Per case: median and p95 and the query count; then the weekly summary's page the same way.

    .venv/bin/python bench/dashboard.py [--requests 40] [--big 100000] [--events 5000000] [--reuse]

`--reuse` times the workspaces a previous run loaded into the same database (migrated first),
without loading anything: the 5,000,000 events take minutes to write. BENCH_DB_NAME names the
database (helpers sharing a server use their own prefix), BENCH_REDIS_URL the Redis.

`--events N` also writes N page-view events of the big workspace's customers into the events table
(INSERT … SELECT generate_series, spread over the 56 days), so the page is timed with a full events
table and its indexes beside it; the rollups of those views are the page-view counts loaded above
(counting 5,000,000 events with the real processor is not part of this bench). Each case also
reports its slowest queries (Django's own timings), to see where a difference comes from.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import RESULTS, bench_env, fresh_database, loadavg, machine_facts, manage, psycopg_url

# A database of its own (BENCH_DB_NAME: helpers sharing a PostgreSQL server use their own prefix).
DB_NAME = os.environ.get("BENCH_DB_NAME", "clarm_bench_owner_dashboard")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6402/5")
CHANNELS = "ARRAY['web','ad','email','sms','whatsapp','stripe','calendly','agent']"
DAYS = 56


def _load(conn: psycopg.Connection, ws: int, customers: int) -> None:
    """`customers` people first seen evenly over the last 56 days with their facts; shares reaching
    rungs 1-4 of 60, 35, 15 and 6 %, revenue for rung 4. The day counts are then made by the real
    rebuild. (Until 2026-12-06 the small workspace's people were all first seen in its last 17 hours,
    so its chart drew 26 bars against the big one's 234: the 1.74× was mostly that.)"""
    conn.execute(
        """
        INSERT INTO identity_customer (workspace_id, status, rung, name, company, email, phone, traits,
            first_seen, last_seen, allow_analytics, allow_marketing_email, allow_marketing_sms,
            allow_ad_sendback, created_at, intent)
        SELECT %(ws)s, 'live', CASE WHEN g %% 100 < 6 THEN 4 WHEN g %% 100 < 15 THEN 3 WHEN g %% 100 < 35 THEN 2
                                    WHEN g %% 100 < 60 THEN 1 ELSE 0 END,
               '', '', '', '', '{}', now() - ((g::bigint * %(days)s * 1440) / %(n)s) * interval '1 minute', now(),
               true, true, true, true, now(), '{}'
        FROM generate_series(1, %(n)s) g
        """,
        {"ws": ws, "n": customers, "days": DAYS},
    )
    conn.execute(
        f"""
        INSERT INTO identity_personfacts (workspace_id, customer_id, first_at, first_date, first_source,
            first_campaign, last_source, rung1_at, rung2_at, rung3_at, rung4_at, revenue_minor, currency,
            event_count, channels, last_step)
        SELECT c.workspace_id, c.id, c.first_seen, c.first_seen::date, ({CHANNELS})[1 + c.id %% 8],
               CASE WHEN c.id %% 5 = 0 THEN 'campaign-' || (c.id %% 12) ELSE '' END,
               ({CHANNELS})[1 + (c.id / 8) %% 8],
               CASE WHEN c.rung >= 1 THEN c.first_seen + interval '1 day' END,
               CASE WHEN c.rung >= 2 THEN c.first_seen + interval '1 day 2 hours' END,
               CASE WHEN c.rung >= 3 THEN c.first_seen + interval '2 days' END,
               CASE WHEN c.rung >= 4 THEN c.first_seen + interval '3 days' END,
               CASE WHEN c.rung >= 4 THEN 5000 + (c.id %% 7) * 1000 ELSE 0 END, 'USD',
               10 + c.id %% 40, ',web,email,',
               CASE WHEN c.id %% 3 = 0 THEN 'step:Submits quote form' ELSE 'page:/page-' || (c.id %% 40) END
        FROM identity_customer c WHERE c.workspace_id = %(ws)s
        """,
        {"ws": ws},
    )


def _page_views(conn: psycopg.Connection, ws: int, customers: int) -> None:
    """Page views by path, country and device, as the processor would have counted them."""
    views = max(1, customers // 200)
    conn.execute(
        """
        INSERT INTO identity_dailycount (workspace_id, date, dimension, key, count)
        SELECT %(ws)s, current_date - d, dim, key, %(views)s + (d * 7 + length(key)) %% 13
        FROM generate_series(0, %(days)s) d,
             (SELECT 'page' AS dim, '/page-' || p AS key FROM generate_series(1, 40) p
              UNION ALL SELECT 'country', c FROM unnest(ARRAY['US','GB','DE','FR','ES','IT','NL','IE','CA','AU']) c
              UNION ALL SELECT 'device', v FROM unnest(ARRAY['Desktop','Mobile']) v) k
        """,
        {"ws": ws, "views": views, "days": DAYS},
    )


def _events(conn: psycopg.Connection, ws: int, events: int) -> None:
    """`events` page views of the workspace's customers (round robin), in chunks of 500,000."""
    first, last = conn.execute(
        "SELECT min(id), max(id) FROM identity_customer WHERE workspace_id = %s", [ws]
    ).fetchone() or (0, 0)
    people = last - first + 1
    for offset in range(0, events, 500_000):
        conn.execute(
            """
            INSERT INTO tracking_event (workspace_id, customer_id, event, source, occurred_at, received_at, rung,
                session_id, device_hash, message_id, properties, context, is_bot)
            SELECT %(ws)s, %(first)s + g %% %(people)s, 'page_view', 'web',
                   now() - (g %% (%(days)s * 1440)) * interval '1 minute',
                   now() - (g %% (%(days)s * 1440)) * interval '1 minute', 0, 's' || (g %% 997), '',
                   'bench-' || g, '{}',
                   jsonb_build_object('url', 'https://shop.test/page-' || (g %% 40)), false
            FROM generate_series(%(start)s, %(stop)s) g
            """,
            {
                "ws": ws,
                "first": first,
                "people": people,
                "days": DAYS,
                "start": offset,
                "stop": min(events, offset + 500_000) - 1,
            },
        )


def _slowest(captured: list[dict[str, str]], n: int = 3) -> list[str]:
    ranked = sorted(captured, key=lambda q: -float(q.get("time") or 0))[:n]
    return [f"{float(q['time']) * 1000:.1f} ms: {q['sql'][:160]}" for q in ranked]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40, help="timed requests per case")
    parser.add_argument("--big", type=int, default=100_000, help="customers of the big workspace")
    parser.add_argument("--events", type=int, default=0, help="page-view events of the big workspace")
    parser.add_argument(
        "--reuse", action="store_true", help="time the workspaces a previous run loaded (same day), loading nothing"
    )
    args = parser.parse_args()
    sizes = {"small": 1_000, "big": args.big}
    if args.reuse:
        database_url = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
        os.environ.update(bench_env(database_url), REDIS_URL=REDIS_URL)
        manage(dict(os.environ), "migrate", "--noinput")  # the code may have moved on since the load
        _time(args, database_url, _reused(database_url), sizes, load_seconds=None)
        return
    database_url = fresh_database(DB_NAME)
    env = bench_env(database_url)
    env["REDIS_URL"] = REDIS_URL
    manage(env, "migrate", "--noinput")
    started = time.monotonic()
    workspaces = {}
    for name, size in sizes.items():
        out = manage(env, "createworkspace", f"{name} shop", "--owner-email", "bench@example.com", "--json")
        made = json.loads(out)
        workspaces[name] = made
        with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
            ws_id = conn.execute("SELECT id FROM workspaces_workspace WHERE slug = %s", [made["slug"]]).fetchone()
            assert ws_id is not None
            made["id"] = ws_id[0]
            _load(conn, ws_id[0], size)
    os.environ.update(env)

    import django

    django.setup()
    from django.utils import timezone

    from identity.rollups.processor import rollups_rebuild
    from workspaces.models import Workspace

    today = timezone.now().date()
    for name, made in workspaces.items():
        workspace = Workspace.objects.get(pk=made["id"])
        rollups_rebuild(workspace=workspace, start=today - datetime.timedelta(days=DAYS + 5), end=today)
        with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
            _page_views(conn, made["id"], sizes[name])
            if name == "big" and args.events:
                _events(conn, made["id"], args.events)
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    _time(args, database_url, workspaces, sizes, load_seconds=round(time.monotonic() - started, 1))


def _reused(database_url: str) -> dict[str, dict]:
    """The workspaces of a previous run, by the slugs `createworkspace` gave them."""
    workspaces = {}
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        for name in ("small", "big"):
            row = conn.execute("SELECT id, slug FROM workspaces_workspace WHERE slug = %s", [f"{name}-shop"]).fetchone()
            assert row is not None, f"no {name}-shop workspace in {database_url}: run once without --reuse"
            workspaces[name] = {"id": row[0], "slug": row[1]}
    return workspaces


def _time(
    args: argparse.Namespace,
    database_url: str,
    workspaces: dict[str, dict],
    sizes: dict[str, int],
    *,
    load_seconds: float | None,
) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM tracking_event WHERE workspace_id = %s", [workspaces["big"]["id"]]
        ).fetchone()
        events = int(row[0]) if row else 0
    loadavg_before = loadavg()
    client = Client()
    client.force_login(get_user_model().objects.get(email="bench@example.com"))
    urls = {name: f"/w/{made['slug']}/?range=28" for name, made in workspaces.items()}
    times: dict[str, list[float]] = {name: [] for name in urls}
    queries: dict[str, int] = {}
    slowest: dict[str, list[str]] = {}
    bars: dict[str, int] = {}  # stacked bars the chart drew: the page's size, to compare like with like
    for name, url in urls.items():
        for _ in range(3):
            assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as captured:
            body = client.get(url).content.decode()
        bars[name] = body.count('<rect class="ch ')
        queries[name] = len(captured.captured_queries)
        slowest[name] = _slowest(captured.captured_queries)
    for _ in range(args.requests):
        for name, url in urls.items():
            start = time.perf_counter()
            response = client.get(url)
            times[name].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
    # The weekly summary's page reads the same rollups (and the new customers' facts): timed the same way.
    summary_urls = {name: f"/w/{made['slug']}/summary/" for name, made in workspaces.items()}
    summary_times: dict[str, list[float]] = {name: [] for name in summary_urls}
    summary_queries: dict[str, int] = {}
    for name, url in summary_urls.items():
        assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        summary_queries[name] = len(captured.captured_queries)
    for _ in range(max(5, args.requests // 4)):
        for name, url in summary_urls.items():
            start = time.perf_counter()
            assert client.get(url).status_code == 200
            summary_times[name].append((time.perf_counter() - start) * 1000)
    result: dict[str, Any] = {
        "machine": machine_facts(),
        "loadavg_before": loadavg_before,
        "loadavg": loadavg(),
        "load_seconds": load_seconds,
        "big_customers": sizes["big"],
        "big_events": events,
        "cases": {
            name: {
                "median_ms": round(statistics.median(values), 1),
                "p95_ms": round(sorted(values)[int(0.95 * (len(values) - 1))], 1),
                "queries": queries[name],
                "slowest_queries": slowest[name],
                "chart_bars": bars[name],
                "summary_median_ms": round(statistics.median(summary_times[name]), 1),
                "summary_queries": summary_queries[name],
            }
            for name, values in times.items()
        },
    }
    result["ratio_big_to_small"] = round(result["cases"]["big"]["median_ms"] / result["cases"]["small"]["median_ms"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
