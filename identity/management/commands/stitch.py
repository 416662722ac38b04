"""`python manage.py stitch`: a stitcher (identity.stitching.stitcher; docs/ingest.md). Run as many as
you like: each pass takes the partitions no other stitcher holds at that moment."""

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from identity.stitching.stitcher import stitch_run


class Command(BaseCommand):
    help = "Stitch appended events onto their customers, continuously (or --once until none is pending)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Stop when nothing is pending.")
        parser.add_argument(
            "--poll", type=float, default=0.05, help="Seconds to wait when nothing is pending (default 0.05)."
        )
        parser.add_argument(
            "--partitions",
            default="",
            help="Comma-separated partition numbers to serve (default: all of CLARM_STITCH_PARTITIONS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True  # finish the batch under way, then leave

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        partitions = [int(p) for p in options["partitions"].split(",") if p.strip()] or None
        stored = stitch_run(
            partitions=partitions, poll_seconds=options["poll"], stop=lambda: stopping, once=options["once"]
        )
        self.stdout.write(f"stitched {stored} events")
