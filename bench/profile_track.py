"""Where the time of `POST /api/track` goes: queries per request (CaptureQueriesContext) and a
cProfile of many requests, in-process through django.test.Client, for a known device.

Run after bench/ingest.py (it reuses its database, whose 1,000 devices are known):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clarm_bench_ingest REDIS_URL=redis://127.0.0.1:6379/12 \
    DJANGO_SETTINGS_MODULE=bench.settings .venv/bin/python bench/profile_track.py [--batch 1] [--requests 300]
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from wsgiref.util import setup_testing_defaults

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("CLARM_RATE_LIMIT_PER_MINUTE", "100000000")

import django

django.setup()

from django.core import signals  # noqa: E402
from django.db import close_old_connections, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from workspaces.keys import key_authenticate  # noqa: E402, F401
from workspaces.models import ApiKey, ApiKeyKind, Workspace  # noqa: E402
from workspaces.services import api_key_rotate  # noqa: E402, F401


def body(batch: int, run: str, n: int) -> str:
    def one(i: int) -> dict[str, object]:
        d = random.randint(1, 1000)
        return {
            "event": "page_view",
            "visitor_id": f"bench-device-{d}",
            "session_id": f"bench-session-{d}",
            "url": f"https://shop.example/p/{i % 50}",
            "message_id": f"{run}-{n}-{i}",
            "properties": {"title": f"Product {i % 50}"},
        }

    return json.dumps(one(0) if batch == 1 else {"batch": [one(i) for i in range(batch)]})


class WsgiClient:
    """POSTs through the WSGI application as gunicorn serves it (clarm.wsgi: the ingest paths' own
    middleware stack), keeping the connection between requests as the test client does."""

    def __init__(self) -> None:
        from clarm.wsgi import application

        self.application = application
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)

    def post(self, path: str, body: str, content_type: str) -> Any:
        raw = body.encode()
        route, _, query = path.partition("?")
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ.update(
            REQUEST_METHOD="POST",
            PATH_INFO=route,
            QUERY_STRING=query,
            CONTENT_TYPE=content_type,
            CONTENT_LENGTH=str(len(raw)),
            HTTP_HOST="localhost",
            HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
            **{"wsgi.input": io.BytesIO(raw)},
        )
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status_code"] = int(status.split()[0])

        chunks = self.application(environ, start_response)
        answer["content"] = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        return SimpleNamespace(**answer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--bare", action="store_true", help="profile the bare baseline view instead")
    parser.add_argument(
        "--wsgi", action="store_true", help="through clarm.wsgi.application (as served) instead of the test client"
    )
    args = parser.parse_args()
    workspace = Workspace.objects.order_by("pk").first()
    assert workspace is not None, "run bench/ingest.py first (it creates the workspace and devices)"
    key = ApiKey.objects.filter(workspace=workspace, kind=ApiKeyKind.WRITE).first()
    assert key is not None
    plain = key.lookup  # write keys are stored in clear (see workspaces/keys.py)
    client: Any = WsgiClient() if args.wsgi else Client()
    run = f"prof{time.time_ns()}"
    path = f"/bench/bare?ws={workspace.pk}" if args.bare else f"/api/track?key={plain}"

    for n in range(20):  # warm-up: key cache, imports, connections
        r = client.post(path, body(args.batch, run + "w", n), content_type="application/json")
        assert r.status_code == 202, r.content
    with CaptureQueriesContext(connection) as ctx:
        r = client.post(path, body(args.batch, run + "q", 0), content_type="application/json")
        assert r.status_code == 202, r.content
    print(f"queries for one request of {args.batch} event(s): {len(ctx.captured_queries)}")
    for q in ctx.captured_queries[:12]:
        print(f"  {q['time']}s  {q['sql'][:300]}")
    if len(ctx.captured_queries) > 12:
        print(f"  … {len(ctx.captured_queries) - 12} more")

    cpu = time.process_time()
    for n in range(args.requests):  # unprofiled: this process's CPU per request
        client.post(path, body(args.batch, run + "c", n), content_type="application/json")
    print(f"CPU of this process: {(time.process_time() - cpu) / args.requests * 1000:.3f} ms per request")
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for n in range(args.requests):
        client.post(path, body(args.batch, run, n), content_type="application/json")
    profiler.disable()
    wall = time.perf_counter() - start
    print(f"\n{args.requests} requests in {wall:.2f} s: {wall / args.requests * 1000:.2f} ms per request in-process")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
    stats.print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
