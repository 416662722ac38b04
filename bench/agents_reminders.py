"""Follow-up reminders (issue 15): on time across a DST change, and exactly once at volume.

In-process on a fresh PostgreSQL database (`clarm_bench_agents`) and Redis, with Celery eager (the
code a worker runs, inline after each commit) and a Twilio stand-in on 127.0.0.1 that answers every
`POST /2010-04-01/Accounts/<sid>/Messages.json` with a new SID and records the form.

1. DST: a workspace in America/New_York, one booking at 09:00 the day DST starts (2027-03-14) and one
   the day it ends (2027-11-07). The beat task `agents.tick` is run once per simulated minute from
   08:55 to 09:05 workspace time the day before; the bench reports the minute each reminder left and
   how long that tick took (it must finish inside its minute for "leaves by 09:01").
2. Volume: 1,000 people with a booking at the same time, so 1,000 reminders are due at once; two
   ticks run at the same moment in two threads (two beat runs overlapping, or two workers). Each
   reminder must leave exactly once: 1,000 requests to Twilio, 1,000 distinct numbers, 1,000 messages,
   1,000 `reminder_sent` events; a third tick sends nothing.

    .venv/bin/python bench/agents_reminders.py [--people 1000] [--workers 2]

With `--workers N` (issue 15, second pass) the volume part runs as deployed instead of eagerly: one
Celery worker process with N pool processes on the same PostgreSQL and Redis, Twilio's base URL given
to it as `CLARM_TWILIO_API_URL`; `agents.tick` fans the due actions out to `agents.actions_run` tasks
(20 each) and each message leaves from its own `integrations.message_send` task. The time reported is
from the two ticks' start until the stand-in received the last reminder ("all by 09:01" is ≤ 60 s
from the 09:00 tick).

Environment: BENCH_AGENTS_REDIS_URL (default redis://127.0.0.1:6404/6), BENCH_AGENTS_PORT (7402),
BENCH_AGENTS_DATABASE (default clarm_bench_agents; dropped and made again).
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import zoneinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import fresh_database, machine_facts

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


class TwilioStandIn:
    def __init__(self, port: int) -> None:
        self.forms: list[dict[str, str]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with outer.lock:
                    outer.forms.append(form)
                    sid = f"SM{len(outer.forms):032x}"
                data = json.dumps(
                    {"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")}
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def setup(port: int) -> TwilioStandIn:
    database = fresh_database(os.environ.get("BENCH_AGENTS_DATABASE", "clarm_bench_agents"))
    os.environ.update(
        DATABASE_URL=database,
        REDIS_URL=os.environ.get("BENCH_AGENTS_REDIS_URL", "redis://127.0.0.1:6404/6"),
        DJANGO_SETTINGS_MODULE="bench.settings",
        CELERY_TASK_ALWAYS_EAGER="true",
        CLARM_RATE_LIMIT_PER_MINUTE="100000000",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    twilio = TwilioStandIn(port)
    settings.CLARM_TWILIO_API_URL = twilio.url
    return twilio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="Celery pool processes for the volume part (0: eager)")
    args = parser.parse_args()
    twilio = setup(int(os.environ.get("BENCH_AGENTS_PORT", "7402")))

    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from agents.models import Message, ScheduledAction
    from agents.services import agent_setting_save
    from agents.tasks import agents_tick
    from identity.stitching.stitcher import events_ingest_stitched
    from integrations.services import connection_save
    from tracking.inputs import EventInput
    from tracking.models import Event
    from workspaces.services import workspace_create

    owner = User.objects.create_user("owner", "owner@bench.example", "x")
    workspace, _, _ = workspace_create(name="Hudson Movers", owner=owner, timezone_name="America/New_York")
    connection_save(
        workspace=workspace,
        provider="twilio",
        values={"account_sid": "AC" + "0" * 32, "auth_token": "t" * 32, "sms_from": "+14155550100"},
        actor=owner,
    )
    agent_setting_save(workspace=workspace, agent="follow_up", enabled=True)

    def bookings(start: datetime.datetime, count: int, prefix: str, first_phone: int) -> None:
        items = [
            EventInput(
                event="booking_created",
                source="webhook",
                email=f"{prefix}{i}@bench.example",
                phone=f"+1415{first_phone + i:07d}",
                occurred_at=timezone.now(),
                properties={
                    "invitee_uri": f"https://api.calendly.com/invitees/{prefix}{i}",
                    "start_time": start.isoformat(),
                },
            )
            for i in range(count)
        ]
        for chunk in range(0, len(items), 200):
            events_ingest_stitched(workspace=workspace, events=items[chunk : chunk + 200])

    print(json.dumps(machine_facts()))
    # 1. DST --------------------------------------------------------------------------------------
    for label, start in (
        ("spring forward", datetime.datetime(2027, 3, 14, 9, 0, tzinfo=NEW_YORK)),
        ("fall back", datetime.datetime(2027, 11, 7, 9, 0, tzinfo=NEW_YORK)),
    ):
        before = len(twilio.forms)
        bookings(start, 1, f"dst-{start:%m}-", 5550000 + start.month)
        agents_tick()
        row = ScheduledAction.objects.get(trigger=f"booking:https://api.calendly.com/invitees/dst-{start:%m}-0")
        minute = datetime.datetime(start.year, start.month, start.day - 1, 8, 55, tzinfo=NEW_YORK)
        left_at = None
        for _ in range(11):
            began = time.perf_counter()
            agents_tick(now=minute.isoformat())
            took = time.perf_counter() - began
            if left_at is None and len(twilio.forms) > before:
                left_at = (minute, took)
            minute += datetime.timedelta(minutes=1)
        assert left_at is not None and len(twilio.forms) == before + 1, "the reminder did not leave exactly once"
        print(
            f"DST {label}: booking {start:%Y-%m-%d %H:%M %Z}, due {row.due_at.astimezone(NEW_YORK):%Y-%m-%d %H:%M %Z}"
            f" ({row.due_at:%H:%M}Z); left on the tick of {left_at[0]:%H:%M %Z},"
            f" the tick took {left_at[1] * 1000:.0f} ms"
        )

    # 2. 1,000 at once ------------------------------------------------------------------------------
    start = datetime.datetime(2027, 6, 1, 9, 0, tzinfo=NEW_YORK)
    began = time.perf_counter()
    bookings(start, args.people, "vol-", 6000000)
    planned = agents_tick()["planned"]
    print(f"{args.people} bookings ingested and planned in {time.perf_counter() - began:.1f} s (planned {planned})")
    # This machine's PostgreSQL runs without autovacuum: give the planner the statistics a production
    # database would have by now (without them the identity lookup scanned the workspace: 40 ms).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    before = len(twilio.forms)
    due = datetime.datetime(2027, 5, 31, 9, 0, 20, tzinfo=NEW_YORK)
    worker = None
    if args.workers:
        from clarm.celery_app import app

        env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "CLARM_TWILIO_API_URL": twilio.url}
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "clarm",
                "worker",
                "-c",
                str(args.workers),
                "--without-gossip",
                "--without-mingle",
                "--loglevel=error",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            start_new_session=True,
        )
        time.sleep(15)  # the worker's processes start and connect
        app.conf.task_always_eager = False
    results: list[dict] = []

    def run() -> None:
        try:
            results.append(agents_tick(now=due.isoformat()))
        finally:
            connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if worker is not None:
        deadline = time.monotonic() + 600
        while len(twilio.forms) - before < args.people and time.monotonic() < deadline:
            time.sleep(0.05)
    took = time.perf_counter() - began
    if worker is not None:
        time.sleep(5)  # anything sent twice would arrive now
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
        from clarm.celery_app import app

        app.conf.task_always_eager = True
    sent = twilio.forms[before:]
    agents_tick(now=(due + datetime.timedelta(minutes=1)).isoformat())
    volume = Message.objects.filter(body__contains="Jun", agent="follow_up")
    print(
        f"{args.people} due at once, two ticks at the same moment"
        f"{f', {args.workers} worker processes' if args.workers else ', eager'}: last left after {took:.1f} s "
        f"({args.people / took:.0f} reminders/s); ticks did {[r['done'] for r in results]}, "
        f"queued {[r['queued'] for r in results]}; "
        f"Twilio requests {len(sent)}, distinct numbers {len({f['To'] for f in sent})}, "
        f"after a third tick {len(twilio.forms) - before}; messages {volume.count()}; "
        f"reminder_sent events {Event.objects.filter(event='reminder_sent').count() - 2}"
    )
    assert len(sent) == len({f["To"] for f in sent}) == args.people == len(twilio.forms) - before


if __name__ == "__main__":
    main()
