"""Read pages at scale: does a page cost the same whatever the amount of data behind it?

Cases (the product's own views, in-process through django.test.Client, logged in as the owner or
with the secret key), each against its small twin in the same run:

- a customer's timeline page `w/<ws>/customers/<pk>/` and API `GET /api/customers/<pk>/timeline`:
  a customer with 100 events vs one with 100,000 events (same workspace, same shape of history);
- the customers page `w/<ws>/customers/`: a workspace with 1,000 customers (10,000 events) vs one
  with 100,000 customers (1,000,000 events); once as served (the ladder counts are cached for 30 s)
  and once with that cache cleared before every request (the worst case).

Data are bulk-loaded with SQL (INSERT … SELECT generate_series) into the real tables made by the
migrations (events into their month partitions, made first with `manage.py event_months --since`),
then VACUUM ANALYZE; the database is kept between runs (`--reload` rebuilds it).
Requests are interleaved round-robin across the cases after a warm-up; per case: median and p95,
query count (CaptureQueriesContext) and EXPLAIN (ANALYZE, BUFFERS) of each query of the page.

    .venv/bin/python bench/pages.py [--requests 60] [--reload] [--db-name clarm_bench_pages] [--redis-db 13]
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    RESULTS,
    bench_env,
    fresh_database,
    loadavg,
    machine_facts,
    manage,
    psycopg_url,
    redis_flush,
)

DB_NAME = "clarm_bench_pages"
REDIS_DB = 13
DATA_VERSION = "pages-v2"  # v2: events in month partitions
BIG_CUSTOMERS = 100_000
BIG_EVENTS = 1_000_000
SMALL_CUSTOMERS = 1_000
SMALL_EVENTS = 10_000
HEAVY_EVENTS = 100_000
LIGHT_EVENTS = 100
TARGET_RATIO = 2.0

# One event's shape; `g` is its number in the generating series, `n` the customer's event count.
_EVENT_SELECT = """
    SELECT %(ws)s, {customer}, ev.name, ev.source,
           {occurred_at}, {occurred_at} + interval '2 seconds', {rung}, 'sess-' || ({customer}) || '-' || (g / 8),
           encode(sha256(('dev' || ({customer}))::bytea), 'hex'), NULL,
           jsonb_build_object('title', 'Product ' || (g %% 50), 'path', '/p/' || (g %% 50), 'channel', 'whatsapp'),
           jsonb_build_object('url', 'https://shop.example/p/' || (g %% 50), 'country', 'DE',
                              'ua', jsonb_build_object('browser', 'Firefox', 'os', 'Linux', 'device', 'desktop')),
           false
    FROM generate_series(1, {count}) AS g,
    LATERAL (SELECT CASE g %% 20 WHEN 0 THEN 'email_opened' WHEN 1 THEN 'message_received'
                                 WHEN 2 THEN 'lead_qualified' ELSE 'page_view' END AS name,
                    CASE g %% 20 WHEN 0 THEN 'email' WHEN 1 THEN 'channel' WHEN 2 THEN 'agent' ELSE 'web' END AS source
            ) AS ev
"""
_EVENT_COLUMNS = (
    "workspace_id, customer_id, event, source, occurred_at, received_at, rung, session_id, device_hash, "
    "message_id, properties, context, is_bot"
)


def _customers_insert(conn: psycopg.Connection, ws: int, count: int) -> tuple[int, int]:
    """`count` live customers, rungs 60/20/10/5/5 %, last seen over 90 days; one device each and an
    email identifier from rung 2. Returns (first id, last id): the ids are consecutive."""
    row = conn.execute(
        """
        INSERT INTO identity_customer (workspace_id, status, rung, customer_number, name, company, email, phone,
            traits, first_seen, last_seen, allow_analytics, allow_marketing_email, allow_marketing_sms,
            allow_ad_sendback, created_at, intent)
        SELECT %(ws)s, 'live', r.rung, CASE WHEN r.rung = 4 THEN i END,
               CASE WHEN r.rung >= 2 THEN 'Customer ' || i ELSE '' END, '',
               CASE WHEN r.rung >= 2 THEN 'c' || i || '@example.org' ELSE '' END, '', '{}'::jsonb,
               now() - ((i %% 129600) || ' minutes')::interval - interval '30 days',
               now() - ((i %% 129600) || ' minutes')::interval, true, true, true, true, now(), '{}'::jsonb
        FROM generate_series(1, %(n)s) AS i,
        LATERAL (SELECT CASE WHEN i %% 20 < 12 THEN 0 WHEN i %% 20 < 16 THEN 1 WHEN i %% 20 < 18 THEN 2
                             WHEN i %% 20 = 18 THEN 3 ELSE 4 END AS rung) AS r
        ORDER BY i
        RETURNING id
        """,
        {"ws": ws, "n": count},
    ).fetchall()
    first, last = min(r[0] for r in row), max(r[0] for r in row)
    assert last - first + 1 == count
    conn.execute(
        """
        INSERT INTO identity_identifier (workspace_id, customer_id, kind, value_hash, masked, visit_count, created_at)
        SELECT %(ws)s, c.id, 'device', encode(sha256(('dev' || c.id)::bytea), 'hex'), '', 2, c.first_seen
        FROM identity_customer c WHERE c.workspace_id = %(ws)s
        UNION ALL
        SELECT %(ws)s, c.id, 'email', encode(sha256(c.email::bytea), 'hex'), 'c***@example.org', 0, c.first_seen
        FROM identity_customer c WHERE c.workspace_id = %(ws)s AND c.rung >= 2
        """,
        {"ws": ws},
    )
    return first, last


def _events_insert(
    conn: psycopg.Connection, *, ws: int, customer: str, count: int, occurred_at: str, rung: str
) -> None:
    sql = f"INSERT INTO tracking_event ({_EVENT_COLUMNS}) " + _EVENT_SELECT.format(
        customer=customer, count=count, occurred_at=occurred_at, rung=rung
    )
    conn.execute(sql, {"ws": ws})


def _history_rung(n: int) -> str:
    """A long anonymous history, then identified late (the worst case for "first event at rung N"):
    rung 0 for 60 % of the events, 1 to 90 %, 2 to 99.9 %, and the last events at 4 (a purchase)."""
    return (
        f"CASE WHEN g <= {int(n * 0.6)} THEN 0 WHEN g <= {int(n * 0.9)} THEN 1 "
        f"WHEN g <= {max(int(n * 0.999), n - 1)} THEN 2 ELSE 4 END"
    )


def load(database_url: str, env: dict[str, str]) -> dict[str, Any]:
    manage(env, "migrate", "--noinput")
    # On PostgreSQL events are partitioned by month: the year of history gets its months first, as
    # the daily task would have made them as it went (docs/ingest.md, "Storage").
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    manage(env, "event_months", "--since", f"{since:%Y-%m}")
    big = json.loads(manage(env, "createworkspace", "Big Shop", "--owner-email", "bench@example.com", "--json"))
    small = json.loads(manage(env, "createworkspace", "Small Shop", "--owner-email", "bench@example.com", "--json"))
    started = time.monotonic()
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        first, _ = _customers_insert(conn, big["id"], BIG_CUSTOMERS)
        heavy, light = first, first + 1
        conn.execute(
            "UPDATE identity_customer SET rung = 4, customer_number = 2000000 + id, name = 'Heavy Henry', "
            "email = 'heavy@example.org' WHERE id IN (%s, %s)",
            (heavy, light),
        )
        conn.execute("UPDATE identity_customer SET name = 'Light Lucy' WHERE id = %s", (light,))
        year = "now() - interval '365 days' + (g * interval '1 second' * 31536000 / {n})"
        _events_insert(
            conn,
            ws=big["id"],
            customer=str(heavy),
            count=HEAVY_EVENTS,
            occurred_at=year.format(n=HEAVY_EVENTS),
            rung=_history_rung(HEAVY_EVENTS),
        )
        _events_insert(
            conn,
            ws=big["id"],
            customer=str(light),
            count=LIGHT_EVENTS,
            occurred_at=year.format(n=LIGHT_EVENTS),
            rung=_history_rung(LIGHT_EVENTS),
        )
        others = BIG_CUSTOMERS - 2
        rest = BIG_EVENTS - HEAVY_EVENTS - LIGHT_EVENTS
        _events_insert(
            conn,
            ws=big["id"],
            customer=f"{first + 2} + mod(g, {others})",
            count=rest,
            occurred_at="now() - (mod(g, 129600) || ' minutes')::interval",
            rung=f"mod(mod(g, {others}), 3)",
        )
        s_first, _ = _customers_insert(conn, small["id"], SMALL_CUSTOMERS)
        _events_insert(
            conn,
            ws=small["id"],
            customer=f"{s_first} + mod(g, {SMALL_CUSTOMERS})",
            count=SMALL_EVENTS,
            occurred_at="now() - (mod(g, 129600) || ' minutes')::interval",
            rung=f"mod(mod(g, {SMALL_CUSTOMERS}), 3)",
        )
        conn.execute("CREATE TABLE IF NOT EXISTS bench_meta (k text PRIMARY KEY, v jsonb)")
        meta = {
            "version": DATA_VERSION,
            "big": big,
            "small": small,
            "heavy": heavy,
            "light": light,
        }
        conn.execute("INSERT INTO bench_meta VALUES ('pages', %s)", (json.dumps(meta),))
        conn.execute("VACUUM ANALYZE")
    meta["load_seconds"] = round(time.monotonic() - started, 1)
    return meta


def existing(database_url: str) -> dict[str, Any] | None:
    try:
        with psycopg.connect(psycopg_url(database_url)) as conn:
            row = conn.execute("SELECT v FROM bench_meta WHERE k = 'pages'").fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0].get("version") != DATA_VERSION:
        return None
    return dict(row[0])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    with ExitStack() as stack:
        run(stack)


def run(stack: ExitStack) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=60, help="timed requests per case")
    parser.add_argument("--reload", action="store_true", help="rebuild the data even if present")
    parser.add_argument("--db-name", default=DB_NAME, help=f"PostgreSQL database (default {DB_NAME})")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help=f"Redis database number (default {REDIS_DB})")
    args = parser.parse_args()
    facts = machine_facts()

    database_url = f"postgres://postgres@127.0.0.1:5432/{args.db_name}"
    meta = None if args.reload else existing(database_url)
    env = bench_env(database_url, redis_db=args.redis_db)
    if meta is None:
        print("loading data (1.1 M events, 101,000 customers)…", flush=True)
        fresh_database(args.db_name)
        meta = load(database_url, env)
        print(f"loaded in {meta['load_seconds']} s", flush=True)
    redis_flush(args.redis_db)
    os.environ.update(env)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.get(email="bench@example.com")
    page_client = Client()
    page_client.force_login(user)
    api_client = Client(HTTP_AUTHORIZATION=f"Bearer {meta['big']['secret_key']}")
    big, small = meta["big"], meta["small"]

    def ladder_cache_clear(ws: dict[str, Any]) -> None:
        cache.delete(f"clarm:ladder:{ws['id']}")

    cases: dict[str, dict[str, Any]] = {
        "timeline page, 100 events": {"client": page_client, "url": f"/w/{big['slug']}/customers/{meta['light']}/"},
        "timeline page, 100,000 events": {
            "client": page_client,
            "url": f"/w/{big['slug']}/customers/{meta['heavy']}/",
        },
        "timeline API, 100 events": {"client": api_client, "url": f"/api/customers/{meta['light']}/timeline"},
        "timeline API, 100,000 events": {"client": api_client, "url": f"/api/customers/{meta['heavy']}/timeline"},
        "customers page, 1,000 customers": {"client": page_client, "url": f"/w/{small['slug']}/customers/"},
        "customers page, 100,000 customers": {"client": page_client, "url": f"/w/{big['slug']}/customers/"},
        "customers page, 1,000 customers, ladder cache cleared": {
            "client": page_client,
            "url": f"/w/{small['slug']}/customers/",
            "before": lambda: ladder_cache_clear(small),
        },
        "customers page, 100,000 customers, ladder cache cleared": {
            "client": page_client,
            "url": f"/w/{big['slug']}/customers/",
            "before": lambda: ladder_cache_clear(big),
        },
    }
    pairs = [
        ("timeline page, 100 events", "timeline page, 100,000 events"),
        ("timeline API, 100 events", "timeline API, 100,000 events"),
        ("customers page, 1,000 customers", "customers page, 100,000 customers"),
        (
            "customers page, 1,000 customers, ladder cache cleared",
            "customers page, 100,000 customers, ladder cache cleared",
        ),
    ]

    def fetch(case: dict[str, Any]) -> float:
        if "before" in case:
            case["before"]()
        start = time.perf_counter()
        response = case["client"].get(case["url"])
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise SystemExit(f"{case['url']} answered {response.status_code}: {response.content[:300]!r}")
        case["bytes"] = len(response.content)
        return elapsed

    suffix = ""
    for case in cases.values():  # warm-up
        for _ in range(5):
            fetch(case)
        case["times"] = []
    load_before = loadavg()
    for _ in range(args.requests):  # interleaved: every case sees the same background load
        for case in cases.values():
            case["times"].append(fetch(case))
    load_after = loadavg()

    # Queries of each page, and the plan of each.
    for case in cases.values():
        if "before" in case:
            case["before"]()
        with CaptureQueriesContext(connection) as ctx:
            case["client"].get(case["url"])
        case["queries"] = [q["sql"] for q in ctx.captured_queries]
        plans = []
        with connection.cursor() as cursor:
            for sql in case["queries"]:
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                lines = [r[0] for r in cursor.fetchall()]
                exec_ms = next(
                    (float(line.split(":")[1].split()[0]) for line in lines if line.startswith("Execution Time")), 0.0
                )
                plans.append({"sql": sql, "plan": lines, "execution_ms": exec_ms})
        case["plans"] = sorted(plans, key=lambda p: -p["execution_ms"])

    lines = [
        f"Machine: {facts['nproc']} cores, {facts['cpu']}; PostgreSQL {facts['postgresql']}; Python {facts['python']}; "
        f"{facts['date']}; load average {load_before:.1f} → {load_after:.1f} (other work on the box)",
        f"Command: `{facts['command']}` ({args.requests} timed requests per case, interleaved, after 5 warm-up "
        "requests each; in-process django.test.Client, DEBUG off, PostgreSQL + Redis)",
        "",
        "| case | median ms | p95 ms | queries | slowest query (EXPLAIN ANALYZE) ms | page KB |",
        "|---|---|---|---|---|---|",
    ]
    summary: dict[str, Any] = {}
    for name, case in cases.items():
        times = [t * 1000 for t in case["times"]]
        case["median_ms"], case["p95_ms"] = statistics.median(times), percentile(times, 0.95)
        slowest = case["plans"][0]["execution_ms"] if case["plans"] else 0.0
        lines.append(
            f"| {name} | {case['median_ms']:.1f} | {case['p95_ms']:.1f} | {len(case['queries'])} | {slowest:.2f} | "
            f"{case['bytes'] / 1024:.0f} |"
        )
        summary[name] = {
            "median_ms": case["median_ms"],
            "p95_ms": case["p95_ms"],
            "queries": case["queries"],
            "plans": case["plans"],
        }
    lines += ["", "| ratio (big / small) | median | p95 | target | met |", "|---|---|---|---|---|"]
    for small_name, big_name in pairs:
        m = cases[big_name]["median_ms"] / cases[small_name]["median_ms"]
        p = cases[big_name]["p95_ms"] / cases[small_name]["p95_ms"]
        ok = m <= TARGET_RATIO
        lines.append(
            f"| {big_name} / {small_name.split(', ')[1]} | {m:.2f} | {p:.2f} | <= 2.00 | {'yes' if ok else 'NO'} |"
        )
    report = "\n".join(lines)
    print("\n" + report)

    plan_lines: list[str] = []
    for name in (
        "timeline page, 100,000 events",
        "timeline API, 100,000 events",
        "customers page, 100,000 customers, ladder cache cleared",
    ):
        plan_lines.append(f"\n### {name}: queries, slowest first\n")
        for p in cases[name]["plans"]:
            plan_lines.append(f"{p['execution_ms']:.3f} ms: `{p['sql'][:400]}`\n")
            plan_lines.append("```")
            plan_lines += [line for line in p["plan"]]
            plan_lines.append("```\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"pages{suffix}.md").write_text(report + "\n")
    (RESULTS / f"pages{suffix}-plans.md").write_text("\n".join(plan_lines) + "\n")
    (RESULTS / f"pages{suffix}.json").write_text(json.dumps({"facts": facts, "meta": meta, "cases": summary}, indent=2))
    print(f"\nplans: {RESULTS / f'pages{suffix}-plans.md'}")


if __name__ == "__main__":
    main()
