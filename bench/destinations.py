"""Destinations benchmark (docs/benchmarks.md, "Destinations").

1. Burst: 10,000 conversions ingested (events_ingest, batches of 500) for a paused Meta Conversions API
   destination, so they queue as delivery rows (or BURST_WORKSPACE=<slug> reuses stored purchases);
   a local server on 127.0.0.1:7701 answers like Meta. Measures the time from the resume until the
   server has all 10,000 events, and how many requests carried them.
2. Outage: a webhook destination answering 503 for OUTAGE seconds (default 60; the issue's 10
   minutes scaled down, same mechanism). Ingest throughput with that destination vs a workspace
   without destinations, in the same run; then, after the outage, nothing may be missing.

Runs a real Celery worker (solo pool) on Redis, as production does.

    DATABASE_URL=postgres://…/clarm_dest_bench REDIS_URL=redis://127.0.0.1:6407/5 \\
        .venv/bin/python bench/destinations.py
"""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
META_PORT, HOOK_PORT = 7701, 7702
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarm.settings.base")
os.environ["CLARM_META_API_URL"] = f"http://127.0.0.1:{META_PORT}"
os.environ["CLARM_ALLOW_PRIVATE_DESTINATIONS"] = "1"
os.environ.setdefault("CLARM_RATE_LIMIT_PER_MINUTE", "0")
OUTAGE = float(os.environ.get("OUTAGE", "60"))
SKIP_OUTAGE = os.environ.get("SKIP_OUTAGE") == "1"
BURST = int(os.environ.get("BURST", "10000"))

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from identity.stitching.stitcher import events_ingest_stitched  # noqa: E402
from integrations.destinations.models import DeliveryState, DestinationDelivery, DestinationStatus  # noqa: E402
from integrations.destinations.services import (  # noqa: E402
    deliveries_from_events,
    destination_create,
    destination_flush,
    destination_update,
)
from tracking.inputs import EventInput  # noqa: E402
from tracking.models import Event  # noqa: E402
from workspaces.models import Workspace  # noqa: E402
from workspaces.services import workspace_create  # noqa: E402


class Recorder:
    def __init__(self, port: int, status_fn) -> None:
        self.requests: list[int] = []
        self.events = 0
        self.last_at = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = status_fn()
                if status == 200:
                    data = json.loads(body)
                    n = len(data["data"]) if isinstance(data.get("data"), list) else 1
                    outer.requests.append(n)
                    outer.events += n
                    outer.last_at = time.monotonic()
                answer = json.dumps({"events_received": 1} if status == 200 else {"error": "unavailable"}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def purchases(prefix: str, start: int, n: int) -> list[EventInput]:
    now = timezone.now()
    return [
        EventInput(
            event="purchase",
            source="web",
            occurred_at=now,
            sent_at=None,
            properties={"amount": 10 + i % 90, "currency": "usd"},
            visitor_id=f"{prefix}-v{i}",
            session_id=None,
            message_id=f"{prefix}-{i}",
            url=None,
            referrer=None,
            user_agent=None,
            email=f"{prefix}{i}@bench.example",
            phone=None,
            user_id=None,
            external_ids={},
            traits={},
            context={},
        )
        for i in range(start, start + n)
    ]


def ingest(workspace, prefix: str, total: int, batch: int = 500) -> float:
    started = time.monotonic()
    for start in range(0, total, batch):
        events_ingest_stitched(workspace=workspace, events=purchases(prefix, start, min(batch, total - start)))
    return time.monotonic() - started


def main() -> None:
    tag = str(int(time.time()))
    owner = User.objects.create_user(f"bench-{tag}", f"bench-{tag}@bench.example", "x")
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "clarm",
            "worker",
            "-P",
            "solo",
            "-l",
            "warning",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    try:
        time.sleep(6)
        # 1. Burst to Meta: BURST conversions are ingested (timed on its own; on a shared 2-core machine
        # ingest of new people is the slow part), with the Meta destination paused so they queue up
        # as delivery rows; then it resumes and the clock runs until Meta has them all. With
        # BURST_WORKSPACE=<slug> the purchases already stored in that workspace are reused (the rows
        # are made by deliveries_from_events, what the post-stitch hook's task does).
        meta = Recorder(META_PORT, lambda: 200)
        slug = os.environ.get("BURST_WORKSPACE")
        took_ingest = None
        if slug:
            ws = Workspace.objects.get(slug=slug)
        else:
            ws, _, _ = workspace_create(name=f"Bench Meta {tag}", owner=owner)
        destination = destination_create(
            workspace=ws,
            provider="meta_capi",
            name=f"Meta {tag}",
            actor=None,
            config={"pixel_id": "1", "access_token": "t"},
            rules=[{"on": "event", "event": "purchase"}],
        )
        destination_update(destination=destination, actor=None, status=DestinationStatus.PAUSED)
        if not slug:
            took_ingest = ingest(ws, f"m{tag}", BURST)
        ids = list(Event.objects.filter(workspace=ws, event="purchase").order_by("id").values_list("id", flat=True))
        deliveries_from_events(workspace_id=ws.pk, event_ids=ids[:BURST])
        queued = DestinationDelivery.objects.filter(destination=destination).count()
        started = time.monotonic()
        with transaction.atomic():
            destination_update(destination=destination, actor=None, status=DestinationStatus.ACTIVE)
        while meta.events < queued and time.monotonic() - started < 300:
            time.sleep(0.1)
        print(
            json.dumps(
                {
                    "burst": queued,
                    "ingest_seconds": round(took_ingest, 2) if took_ingest else None,
                    "all_at_meta_seconds": round(meta.last_at - started, 2) if meta.events >= queued else None,
                    "events_at_meta": meta.events,
                    "requests": len(meta.requests),
                    "largest_request": max(meta.requests or [0]),
                }
            ),
            flush=True,
        )

        if SKIP_OUTAGE:
            return
        # 2. A destination answering 503 for OUTAGE seconds.
        outage_until = time.monotonic() + OUTAGE
        hook = Recorder(HOOK_PORT, lambda: 503 if time.monotonic() < outage_until else 200)
        down, _, _ = workspace_create(name=f"Bench Down {tag}", owner=owner)
        plain, _, _ = workspace_create(name=f"Bench Plain {tag}", owner=owner)
        d = destination_create(
            workspace=down,
            provider="webhook",
            name="Down",
            actor=None,
            config={"url": f"http://127.0.0.1:{HOOK_PORT}/hook"},
            rules=[{"on": "event", "event": "purchase"}],
        )
        n = int(os.environ.get("OUTAGE_EVENTS", "3000"))
        rates: dict[str, list[float]] = {"plain": [], "down": []}
        rounds = 0
        while time.monotonic() < outage_until - 5:
            for name, workspace in (("plain", plain), ("down", down)):
                seconds = ingest(workspace, f"{name}{tag}r{rounds}", n // 6, batch=100)
                rates[name].append((n // 6) / seconds)
            rounds += 1
        # After the outage: what the sweep on beat does every minute.
        while time.monotonic() < outage_until:
            time.sleep(0.5)
        # Until every conversion of the down workspace is delivered (the worker turns the last
        # ones into rows when it gets to their tasks), at most 10 minutes.
        expected = rounds * (n // 6)
        recovered = time.monotonic()
        while time.monotonic() - recovered < 600:
            destination_flush(destination_id=d.pk)
            rows = DestinationDelivery.objects.filter(destination=d)
            if rows.count() >= expected and not rows.exclude(status=DeliveryState.DELIVERED).exists():
                break
            time.sleep(0.5)
        drained_seconds = time.monotonic() - recovered
        total = DestinationDelivery.objects.filter(destination=d).count()
        delivered = DestinationDelivery.objects.filter(destination=d, status=DeliveryState.DELIVERED).count()
        plain_rate = sum(rates["plain"]) / len(rates["plain"])
        down_rate = sum(rates["down"]) / len(rates["down"])
        print(
            json.dumps(
                {
                    "outage_seconds": OUTAGE,
                    "rounds": rounds,
                    "ingest_eps_no_destination": round(plain_rate),
                    "ingest_eps_destination_down": round(down_rate),
                    "ratio": round(down_rate / plain_rate, 3),
                    "conversions_to_down_workspace": rounds * (n // 6),
                    "deliveries": total,
                    "all_delivered_seconds_after_outage": round(drained_seconds, 1),
                    "delivered_after": delivered,
                    "accepted_by_hook": hook.events,
                }
            )
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
