"""Issue 11, item 8: a signed SendGrid Event Webhook batch of 1,000 events, received by the real app.

A batch is verified once (ECDSA over the whole body), stored in ONE transaction (one INSERT of its
1,000 deliveries) and queued with ONE task. Measured: the time from sending the POST to its 200, under
gunicorn (sync workers) on PostgreSQL with Celery publishing to Redis (no worker runs, so processing
does not compete with receiving); then, separately, the processing of one stored batch by the task
(in-process, the same code a Celery worker runs). Every batch has new event ids; after the run the
deliveries stored must equal the events sent (nothing lost, nothing twice).

    .venv/bin/python bench/webhooks_batch.py [--batches 20] [--events 1000] [--clients 1]
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    REDIS_PORT,
    RESULTS,
    bench_env,
    fresh_database,
    gunicorn,
    loadavg,
    machine_facts,
    manage,
    psycopg_url,
)

PORT = int(os.environ.get("BENCH_WEBHOOKS_PORT", "7401"))
REDIS_URL = os.environ.get("BENCH_WEBHOOKS_REDIS_URL", f"redis://127.0.0.1:{REDIS_PORT}/13")
DATABASE = os.environ.get("BENCH_WEBHOOKS_DATABASE", "clarm_bench_webhooks")
TARGET_EVENTS_PER_S = 5000

_SETUP = """
import json
from integrations.services import connection_save
from workspaces.models import Workspace
ws = Workspace.objects.get(pk={ws})
connection_save(workspace=ws, provider="sendgrid", values={{"verification_key": "{key}"}}, actor=None)
print(json.dumps({{"slug": ws.slug}}))
"""

_PROCESS = """
import json, time
from integrations.models import WebhookDelivery
from integrations.tasks import webhook_process
from tracking.models import Event, PendingEvent
ids = list(WebhookDelivery.objects.filter(status="received").order_by("id").values_list("id", flat=True)[:{n}])
started = time.perf_counter()
webhook_process.apply(args=[ids])
elapsed = time.perf_counter() - started
done = WebhookDelivery.objects.filter(id__in=ids, status="processed").count()
# Through the pipeline: appended by the edge, then stitched in the same call (events_ingest_stitched).
stored = Event.objects.filter(message_id__startswith="clarm:sendgrid:").count()
pending = PendingEvent.objects.count()
print(json.dumps({{"deliveries": len(ids), "processed": done, "seconds": elapsed, "events_stored": stored,
                  "events_pending": pending}}))
"""


def _batch(n: int, events: int) -> str:
    now = int(time.time())
    return json.dumps(
        [
            {
                "email": f"reader{i % 500}@example.com",
                "timestamp": now - 60,
                "event": "delivered" if i % 2 else "open",
                "sg_event_id": f"bench-{n}-{i}",
                "sg_message_id": f"msg-{n}-{i}.filter0001",
                "category": ["newsletter"],
            }
            for i in range(events)
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    facts = machine_facts()

    database_url = fresh_database(DATABASE)
    env = bench_env(database_url)
    env["REDIS_URL"] = REDIS_URL
    manage(env, "migrate", "--noinput")
    created = json.loads(manage(env, "createworkspace", "Hook Shop", "--owner-email", "bench@example.com", "--json"))
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    setup = _SETUP.format(ws=created["id"], key=base64.b64encode(public).decode())
    slug = json.loads(manage(env, "shell", "-c", setup).strip().splitlines()[-1])["slug"]

    bodies = [_batch(n, args.events) for n in range(args.batches + 1)]  # +1: warm-up

    def post(client: httpx.Client, base: str, body: str) -> float:
        ts = str(int(time.time()))
        signature = private.sign((ts + body).encode(), ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }
        started = time.perf_counter()
        response = client.post(f"{base}/hooks/sendgrid/{slug}/", content=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - started
        answer = response.json()
        assert response.status_code == 200 and answer["stored"] == args.events, answer
        return elapsed

    with gunicorn(env, PORT, workers=args.workers, name="webhooks_batch") as server, httpx.Client() as client:
        post(client, server.base, bodies[0])
        load_before = loadavg()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            clients = [httpx.Client() for _ in range(args.clients)]
            latencies = list(
                pool.map(lambda i: post(clients[i % args.clients], server.base, bodies[i]), range(1, len(bodies)))
            )
        wall = time.perf_counter() - started
        load_after = loadavg()

    sent = (args.batches + 1) * args.events
    with psycopg.connect(psycopg_url(database_url)) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT event_key) FROM integrations_webhookdelivery").fetchone()
    stored, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
    processing = json.loads(
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", _PROCESS.format(n=args.events)],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    latencies.sort()
    result = {
        "facts": facts,
        "events_per_batch": args.events,
        "batches": args.batches,
        "clients": args.clients,
        "gunicorn_workers": args.workers,
        "loadavg_1min_before_after": [load_before, load_after],
        "batch_ms_median": round(statistics.median(latencies) * 1000, 1),
        "batch_ms_p95": round(latencies[max(0, int(len(latencies) * 0.95) - 1)] * 1000, 1),
        "batch_ms_max": round(latencies[-1] * 1000, 1),
        "events_per_s_median_batch": round(args.events / statistics.median(latencies)),
        "events_per_s_wall": round(args.batches * args.events / wall),
        "sent": sent,
        "stored": stored,
        "distinct_keys": distinct,
        "processing": {
            **processing,
            "events_per_s": round(processing["processed"] / processing["seconds"]) if processing["seconds"] else 0,
        },
        "target_events_per_s": TARGET_EVENTS_PER_S,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "webhooks_batch.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    ok = stored == sent == distinct and result["events_per_s_median_batch"] >= TARGET_EVENTS_PER_S
    print("RESULT", "ok" if ok else "MISSED", flush=True)


if __name__ == "__main__":
    main()
