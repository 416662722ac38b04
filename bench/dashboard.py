"""The dashboard at scale (issue 16): does the page cost the same for 1,000 and 100,000 customers?

The dashboard reads only rollups (DailyCount, PersonFacts), so the bench loads customers with their
facts and eight weeks of day counts straight into the tables the migrations made (INSERT … SELECT
generate_series; no events: the page never reads them), then times `GET /w/<ws>/?range=28`
in-process (django.test.Client, logged in as the owner), interleaving the two workspaces after a
warm-up. Per case: median and p95 and the query count.

    .venv/bin/python bench/dashboard.py [--requests 40] [--big 100000]
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import RESULTS, bench_env, fresh_database, loadavg, machine_facts, manage, psycopg_url

DB_NAME = "clarm_bench_owner_dashboard"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6402/5")
CHANNELS = "ARRAY['web','ad','email','sms','whatsapp','stripe','calendly','agent']"
DAYS = 56


def _load(conn: psycopg.Connection, ws: int, customers: int) -> None:
    """`customers` people first seen over the last 56 days with their facts; shares reaching rungs 1-4
    of 60, 35, 15 and 6 %, revenue for rung 4. The day counts are then made by the real rebuild."""
    conn.execute(
        """
        INSERT INTO identity_customer (workspace_id, status, rung, name, company, email, phone, traits,
            first_seen, last_seen, allow_analytics, allow_marketing_email, allow_marketing_sms,
            allow_ad_sendback, created_at)
        SELECT %(ws)s, 'live', CASE WHEN g %% 100 < 6 THEN 4 WHEN g %% 100 < 15 THEN 3 WHEN g %% 100 < 35 THEN 2
                                    WHEN g %% 100 < 60 THEN 1 ELSE 0 END,
               '', '', '', '', '{}', now() - (g %% (%(days)s * 1440)) * interval '1 minute', now(),
               true, true, true, true, now()
        FROM generate_series(1, %(n)s) g
        """,
        {"ws": ws, "n": customers, "days": DAYS},
    )
    conn.execute(
        f"""
        INSERT INTO identity_personfacts (workspace_id, customer_id, first_at, first_date, first_source,
            first_campaign, last_source, rung1_at, rung2_at, rung3_at, rung4_at, revenue_minor, currency,
            event_count, channels)
        SELECT c.workspace_id, c.id, c.first_seen, c.first_seen::date, ({CHANNELS})[1 + c.id %% 8],
               CASE WHEN c.id %% 5 = 0 THEN 'campaign-' || (c.id %% 12) ELSE '' END,
               ({CHANNELS})[1 + (c.id / 8) %% 8],
               CASE WHEN c.rung >= 1 THEN c.first_seen + interval '1 day' END,
               CASE WHEN c.rung >= 2 THEN c.first_seen + interval '1 day 2 hours' END,
               CASE WHEN c.rung >= 3 THEN c.first_seen + interval '2 days' END,
               CASE WHEN c.rung >= 4 THEN c.first_seen + interval '3 days' END,
               CASE WHEN c.rung >= 4 THEN 5000 + (c.id %% 7) * 1000 ELSE 0 END, 'USD',
               10 + c.id %% 40, ',web,email,'
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40, help="timed requests per case")
    parser.add_argument("--big", type=int, default=100_000, help="customers of the big workspace")
    args = parser.parse_args()
    database_url = fresh_database(DB_NAME)
    env = bench_env(database_url)
    env["REDIS_URL"] = REDIS_URL
    manage(env, "migrate", "--noinput")
    started = time.monotonic()
    workspaces = {}
    sizes = {"small": 1_000, "big": args.big}
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
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from identity.rollups.processor import rollups_rebuild
    from workspaces.models import Workspace

    today = timezone.now().date()
    for name, made in workspaces.items():
        workspace = Workspace.objects.get(pk=made["id"])
        rollups_rebuild(workspace=workspace, start=today - datetime.timedelta(days=DAYS + 5), end=today)
        with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
            _page_views(conn, made["id"], sizes[name])
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    load_seconds = round(time.monotonic() - started, 1)

    client = Client()
    client.force_login(get_user_model().objects.get(email="bench@example.com"))
    urls = {name: f"/w/{made['slug']}/?range=28" for name, made in workspaces.items()}
    times: dict[str, list[float]] = {name: [] for name in urls}
    queries: dict[str, int] = {}
    for name, url in urls.items():
        for _ in range(3):
            assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        queries[name] = len(captured.captured_queries)
    for _ in range(args.requests):
        for name, url in urls.items():
            start = time.perf_counter()
            response = client.get(url)
            times[name].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
    result = {
        "machine": machine_facts(),
        "loadavg": loadavg(),
        "load_seconds": load_seconds,
        "big_customers": args.big,
        "cases": {
            name: {
                "median_ms": round(statistics.median(values), 1),
                "p95_ms": round(sorted(values)[int(0.95 * (len(values) - 1))], 1),
                "queries": queries[name],
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
