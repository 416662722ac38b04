"""Where a stitcher's time goes: append N events through the edge (in-process), then cProfile one
`stitch_run(once=True)` over them, with the queries counted.

Run against bench/pipeline.py's database (its workspace and its 500 returning devices):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clarm_pipebench REDIS_URL=redis://127.0.0.1:6406/3 \
    DJANGO_SETTINGS_MODULE=bench.settings .venv/bin/python bench/profile_stitch.py --devices new --events 1000
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.stitch_cpu import pending_make  # noqa: E402
from identity.stitching.stitcher import stitch_run  # noqa: E402
from tracking.inputs import EventInput  # noqa: E402
from tracking.services import events_ingest  # noqa: E402
from workspaces.models import Workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", default="new", choices=["new", "known"])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--callers", default="", help="also print the callers of functions matching this")
    args = parser.parse_args()
    workspace = Workspace.objects.order_by("pk").first()
    assert workspace is not None, "run bench/pipeline.py setup first"
    run = f"ps{time.time_ns()}"
    # A warm-up batch first (imports, connections, the first task publish), not profiled.
    events_ingest(
        workspace=workspace, events=[EventInput(event="page_view", visitor_id=f"warm-{run}-{i}") for i in range(50)]
    )
    stitch_run(once=True)
    pending_make(workspace, args.devices, args.events, run)
    profiler = cProfile.Profile()
    start_t = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        profiler.enable()
        stored = stitch_run(once=True)
        profiler.disable()
    wall = time.perf_counter() - start_t
    print(f"stitched {stored} {args.devices}-device events in {wall:.2f} s: {stored / wall:.0f} events/s in-process")
    print(f"queries: {len(ctx.captured_queries)}; slowest:")
    for q in sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:8]:
        print(f"  {q['time']}s  {q['sql'][:240]}")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
    stats.print_stats(args.top)
    if args.callers:
        stats.print_callers(args.callers)
    print(out.getvalue())


if __name__ == "__main__":
    main()
