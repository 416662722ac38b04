"""A stitcher's cost per event, in-process: append N events through the edge (`events_ingest`), then
time one `stitch_run(once=True)` over them and read the CPU it took in this process and in its
PostgreSQL backend (/proc). Repeated, for new and for returning devices (bench/pipeline.py's 500).

Run against bench/pipeline.py's database (`setup` first):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clarm_pipebench REDIS_URL=redis://127.0.0.1:6420/3 \\
    DJANGO_SETTINGS_MODULE=bench.settings .venv/bin/python bench/stitch_cpu.py [--events 3000] [--runs 3]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from bench.harness import process_cpu  # noqa: E402
from identity.stitching.stitcher import stitch_run  # noqa: E402
from tracking.inputs import EventInput  # noqa: E402
from tracking.services import events_ingest  # noqa: E402
from workspaces.models import Workspace  # noqa: E402

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


def backend_cpu() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return process_cpu(pid)


def pending_make(workspace: Workspace, devices: str, count: int, run: str) -> None:
    """Append `count` page views through the edge: each from a new device (`new`) or from the 500
    returning ones (`known`). bench/profile_stitch.py appends the same."""
    for start in range(0, count, 500):
        events = []
        for i in range(start, min(start + 500, count)):
            visitor = f"new-{run}-{i}" if devices == "new" else f"known-{i % 500}"
            events.append(
                EventInput(
                    event="page_view",
                    visitor_id=visitor,
                    session_id=f"s-{visitor}",
                    url=f"https://shop.example/p/{i % 50}",
                    referrer="https://www.google.com/",
                    user_agent=UA,
                    properties={"title": "Pricing"},
                    message_id=f"{run}-{i}",
                )
            )
        events_ingest(workspace=workspace, events=events)


def one_run(workspace: Workspace, devices: str, count: int) -> str:
    pending_make(workspace, devices, count, f"sc{time.time_ns()}")
    backend, own, wall = backend_cpu(), time.process_time(), time.perf_counter()
    stored = stitch_run(once=True)
    wall = time.perf_counter() - wall
    own_us = (time.process_time() - own) / stored * 1e6
    pg_us = (backend_cpu() - backend) / stored * 1e6
    return f"{stored / wall:.0f} events/s, Python {own_us:.0f} µs/event, PostgreSQL {pg_us:.0f} µs/event"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workspace = Workspace.objects.order_by("pk").first()
    assert workspace is not None, "run bench/pipeline.py setup first"
    for devices in ("new", "known"):
        print(devices, " | ".join(one_run(workspace, devices, args.events) for _ in range(args.runs)))


if __name__ == "__main__":
    main()
