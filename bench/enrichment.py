"""Enrichment and intent (issue 14): provider calls per page view, and how soon a score is current.

Part A (provider calls): 10,000 page views from 2,000 visitors on 500 business networks (/24s the
offline classifier calls business, so each one needs a provider answer), ingested one event per
call through `events_ingest_stitched` (the edge and the stitcher) with the processor run inline
(eager Celery), against a local
ipinfo-shaped server on 127.0.0.1 that counts its requests. Requirement: ≤ 500 provider calls.

Part B (score latency): a real Celery worker (prefork, 2 processes) on Redis; events of new
visitors are ingested at a fixed rate from this process, and a poller measures, for every 10th
event, the time from `events_ingest_stitched` returning to the customer's intent being computed after it.
Requirement: ≤ 2 s.

    .venv/bin/python bench/enrichment.py [--views 10000] [--networks 500] [--rate 100] [--seconds 20]

Needs PostgreSQL on 127.0.0.1:5432 and Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6408/5).
"""

import argparse
import ipaddress
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, bench_env, fresh_database, manage

PROVIDER_PORT = 7850
BATCH = 25  # page views per ingest call (different visitors), as a Segment batch sends them
CALLS = {"n": 0}


class FakeIpinfo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        CALLS["n"] += 1
        address = self.path.strip("/")
        body = json.dumps(
            {
                "ip": address,
                "country": "DE",
                "company": {
                    "name": f"Company {address}",
                    "domain": f"c{abs(hash(address)) % 10**6}.test",
                    "type": "business",
                },
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def business_prefixes(count: int, seed: int = 14) -> list[ipaddress.IPv4Network]:
    """`count` distinct /24s that the offline classifier calls business (sampled from the ASN data)."""
    from enrichment.providers.offline import network_classify
    from tracking.network import geo_lookup

    rng = random.Random(seed)
    found: dict[str, ipaddress.IPv4Network] = {}
    while len(found) < count:
        ip = str(ipaddress.IPv4Address(rng.randrange(1 << 24, 223 << 24)))
        geo = geo_lookup(ip)
        if geo.prefix and network_classify(asn=geo.asn, network=geo.network) == "business":
            found.setdefault(geo.prefix, ipaddress.IPv4Network(geo.prefix))
    return list(found.values())


def part_a(views: int, networks: int, workspace) -> dict:
    from enrichment.models import EnrichmentUsage, NetworkAnswer
    from identity.stitching.stitcher import events_ingest_stitched
    from tracking.inputs import EventInput

    prefixes = business_prefixes(networks)
    visitors = views // 5
    rng = random.Random(1)
    CALLS["n"] = 0
    started = time.perf_counter()
    paths = ["/", "/pricing", "/demo", "/blog/a", "/contact"]
    batch: list[tuple[EventInput, str]] = []
    for n in range(views):
        visitor = n % visitors
        net = prefixes[visitor % len(prefixes)]
        ip = str(net.network_address + 1 + (visitor * 7 + rng.randrange(200)) % 250)
        item = EventInput(
            event="page_view",
            visitor_id=f"bench-visitor-{visitor}",
            session_id=f"s-{visitor}",
            url=f"https://shop.test{paths[n // visitors % len(paths)]}",
            client_ip=ip,  # as a server-side sender passes each visitor's address
        )
        batch.append((item, ip))
        if len(batch) == BATCH or n == views - 1:
            events_ingest_stitched(workspace=workspace, events=[e for e, _ in batch])
            batch = []
    elapsed = time.perf_counter() - started
    usage = EnrichmentUsage.objects.get(workspace=workspace)
    return {
        "page_views": views,
        "visitors": visitors,
        "networks": len(prefixes),
        "provider_calls": CALLS["n"],
        "counted_provider_calls": usage.provider_calls,
        "lookups": usage.lookups,
        "cache_hits": usage.cache_hits,
        "cache_hit_ratio": round(usage.hit_ratio or 0, 3),
        "cached_answers": NetworkAnswer.objects.count(),
        "seconds": round(elapsed, 1),
        "page_views_per_second_inline": round(views / elapsed, 1),
    }


def part_b(rate: float, seconds: float, workspace, prefixes, env, pool: int = 0, batch: int = 1) -> dict:
    from django.db import connection

    from clarm.celery_app import app
    from identity.models import Customer
    from identity.stitching.stitcher import events_ingest_stitched
    from tracking.inputs import EventInput
    from tracking.models import Event

    app.control.purge()
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "clarm.celery_app", "worker", "-c", "2", "-l", "warning"],
        cwd=ROOT,
        env={**env, "CELERY_TASK_ALWAYS_EAGER": "0"},
    )
    samples: queue.Queue = queue.Queue()
    latencies: list[float] = []
    missed = {"n": 0}

    def poll() -> None:
        while True:
            item = samples.get()
            if item is None:
                break
            customer_id, returned_at, sent_iso = item
            deadline = returned_at + 30
            while time.time() < deadline:
                computed = (Customer.objects.filter(pk=customer_id).values_list("intent", flat=True).first() or {}).get(
                    "computed_at"
                )
                if computed and computed.replace("Z", "+00:00") >= sent_iso:
                    latencies.append(time.time() - returned_at)
                    break
                time.sleep(0.005)
            else:
                missed["n"] += 1
        connection.close()

    try:
        # Wait until the worker has booted and scores a warm-up event (not counted).
        events_ingest_stitched(
            workspace=workspace,
            events=[
                EventInput(
                    event="page_view", visitor_id="latency-warm-up", url="https://shop.test/", message_id="lm-warm"
                )
            ],
            ip=str(prefixes[0].network_address + 9),
        )
        warm_customer = Event.objects.filter(message_id="lm-warm").values_list("customer_id", flat=True)[0]
        deadline = time.time() + 120
        while (
            time.time() < deadline
            and not Customer.objects.filter(pk=warm_customer, intent_score__isnull=False).exists()
        ):
            time.sleep(0.1)
        poller = threading.Thread(target=poll)
        poller.start()
        interval = 1 / rate
        total = int(rate * seconds) // batch * batch
        started = time.time()
        for n in range(0, total, batch):
            due = started + n * interval
            if (wait := due - time.time()) > 0:
                time.sleep(wait)
            net = prefixes[n % len(prefixes)]
            sent_iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}+00:00"
            items = []
            for k in range(n, n + batch):
                visitor = f"latency-{k % pool}" if pool else f"latency-{k}"
                items.append(
                    EventInput(
                        event="page_view",
                        visitor_id=visitor,
                        session_id=f"ls-{visitor}",
                        message_id=f"lm-{k}",
                        url="https://shop.test/pricing",
                    )
                )
            result = events_ingest_stitched(workspace=workspace, events=items, ip=str(net.network_address + 9))
            returned = time.time()
            if (n // batch) % 10 == 0 and result.accepted and n >= pool:
                first = Event.objects.filter(workspace=workspace, message_id=f"lm-{n}")
                customer_id = first.values_list("customer_id", flat=True)[0]
                samples.put((customer_id, returned, sent_iso))
        achieved = total / (time.time() - started)
        samples.put(None)
        poller.join()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    latencies.sort()
    return {
        "events": total,
        "visitors": pool or total,
        "events_per_ingest_call": batch,
        "rate_asked": rate,
        "rate_achieved": round(achieved, 1),
        "samples": len(latencies),
        "missed_30s": missed["n"],
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(latencies[int(len(latencies) * 0.99) - 1], 3) if latencies else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
    }


def part_c(blocks: int, per_block: int, workspace, prefixes) -> dict:
    """Ingest with enrichment on and off, in the same run, under the event pipeline: alternating
    blocks of `per_block` known-device page views, each block appended through the edge
    (`events_ingest`, one event per call, as the snippet sends them) and then stored by one stitcher
    pass (`stitch_run(once=True)`), whose post-stitch hook hands the events to enrichment when it is
    on (the enrichment receiver is removed from the hook when off; the other processors stay). The
    edge never runs the hook, so its figure is unchanged by construction: measured to show it. No
    worker runs: the queue is purged after."""
    from clarm.celery_app import app
    from enrichment.tasks import events_process_enqueue
    from identity.stitching.stitcher import stitch_run
    from tracking import hooks
    from tracking.inputs import EventInput
    from tracking.services import events_ingest

    with_enrichment = list(hooks._receivers)
    without = [r for r in with_enrichment if r is not events_process_enqueue]
    assert len(without) == len(with_enrichment) - 1, "the enrichment receiver is registered"
    devices = 200
    ip = str(prefixes[0].network_address + 9)

    def block(tag: str) -> tuple[float, float]:
        started = time.perf_counter()
        for n in range(per_block):
            d = n % devices
            item = EventInput(
                event="page_view",
                visitor_id=f"ingest-{d}",
                session_id=f"is-{d}",
                message_id=f"{tag}-{n}",
                url="https://shop.test/pricing",
            )
            events_ingest(workspace=workspace, events=[item], ip=ip)
        appended = time.perf_counter()
        stitch_run(once=True)
        return appended - started, time.perf_counter() - appended

    block("warm")  # the devices known, in a visit under way
    spent = {"on": [0.0, 0.0], "off": [0.0, 0.0]}
    for n in range(blocks * 2):
        mode = "on" if n % 2 == 0 else "off"
        hooks._receivers[:] = with_enrichment if mode == "on" else without
        edge, stitch = block(f"c{n}")
        spent[mode][0] += edge
        spent[mode][1] += stitch
    hooks._receivers[:] = with_enrichment
    app.control.purge()
    events = blocks * per_block
    return {
        "events_each": events,
        "edge_per_event_ms_on": round(1000 * spent["on"][0] / events, 3),
        "edge_per_event_ms_off": round(1000 * spent["off"][0] / events, 3),
        "edge_rate_ratio_on_over_off": round(spent["off"][0] / spent["on"][0], 3),
        "stitcher_events_per_s_on": round(events / spent["on"][1], 1),
        "stitcher_events_per_s_off": round(events / spent["off"][1], 1),
        "stitcher_rate_ratio_on_over_off": round(spent["off"][1] / spent["on"][1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=int, default=10_000)
    parser.add_argument("--networks", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--parts", default="abc", help="a: provider calls, b: score latency, c: ingest on/off")
    parser.add_argument("--ingest-blocks", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1, help="part b: events per ingest call (different visitors)")
    parser.add_argument("--pool", type=int, default=0, help="part b: cycle over this many visitors (0: a new one each)")
    args = parser.parse_args()

    database_url = fresh_database("clarm_bench_enrich")
    env = bench_env(database_url)
    env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6408/5")
    env["CLARM_IPINFO_API_URL"] = f"http://127.0.0.1:{PROVIDER_PORT}"
    manage(env, "migrate", "--noinput")
    os.environ.update(env)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    import django

    django.setup()
    from django.contrib.auth.models import User

    from enrichment.services import enrichment_settings_update
    from workspaces.services import workspace_create

    server = ThreadingHTTPServer(("127.0.0.1", PROVIDER_PORT), FakeIpinfo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    owner = User.objects.create_user("bench-owner", "owner@bench.test", "x")
    workspace, _, _ = workspace_create(name="Bench Enrich", owner=owner)
    enrichment_settings_update(workspace=workspace, provider="ipinfo", api_key="bench-token")

    if "a" in args.parts:
        a = part_a(args.views, args.networks, workspace)
        print(json.dumps({"part_a_provider_calls": a}, indent=2), flush=True)
    from django.conf import settings

    settings.CELERY_TASK_ALWAYS_EAGER = False
    from clarm.celery_app import app

    app.conf.task_always_eager = False
    prefixes = business_prefixes(args.networks)
    if "c" in args.parts:
        c = part_c(args.ingest_blocks, 1000, workspace, prefixes)
        print(json.dumps({"part_c_ingest_with_and_without": c}, indent=2), flush=True)
    if "b" in args.parts:
        b = part_b(args.rate, args.seconds, workspace, prefixes, env, pool=args.pool, batch=args.batch)
        print(json.dumps({"part_b_score_latency": b}, indent=2), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
