"""The chat widget's round trip (issue 15, target ≤ 1 s p95), against the real app under gunicorn.

A fresh PostgreSQL database (`clarm_bench_widget`) and Redis; the app under gunicorn (2 × cores sync
workers, as deployed). `--visitors` browsers (default 20) each keep a chat open and poll
`POST /api/widget/poll` every 0.8 s, as static/clarm-widget.js does with the panel open. Then, round
after round, each visitor:

1. sends a message (`POST /api/widget/messages`): timed until the 201, when the message is stored
   and on the timeline (the Inbox has it);
2. the team answers at once (`conversation_reply(channel="web")` from this process, as the Inbox
   does); timed from the reply's commit until the visitor's poll loop shows it (what the visitor
   waits for: the rest of the poll interval plus one poll).

Baseline in the same run: one event to `POST /api/track` from the same visitor (the snippet's own
request). Reported: p50/p95/max of each, and the ratio of the message POST to the track POST.

    .venv/bin/python bench/widget_chat.py [--visitors 20 --rounds 10]

Environment: BENCH_WIDGET_REDIS_URL (default redis://127.0.0.1:6402/7), BENCH_WIDGET_PORT (7403).
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import bench_env, fresh_database, gunicorn, machine_facts, manage

POLL_S = 0.8


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"{name}: n={len(values)} p50 {statistics.median(values) * 1000:.0f} ms, "
        f"p95 {pct(values, 0.95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
    )


class Visitor:
    """One browser with the chat open: its token, and a poll loop that notes when each id shows up."""

    def __init__(self, base: str, key: str, n: int) -> None:
        self.base, self.key = base, key
        self.vid = f"bench-visitor-{n:04d}-{uuid.uuid4().hex[:8]}"
        self.token: str | None = None
        self.after = 0
        self.seen: dict[int, float] = {}
        self.polls: list[float] = []
        self.stop = threading.Event()
        self.http = httpx.Client(timeout=30)

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.http.post(
            f"{self.base}{path}?key={self.key}", content=json.dumps(body), headers={"Content-Type": "text/plain"}
        )

    def say(self, text: str) -> float:
        body = {"visitor_id": self.vid, "message_id": uuid.uuid4().hex, "body": text}
        if self.token:
            body["token"] = self.token
        began = time.perf_counter()
        answer = self.post("/api/widget/messages", body)
        took = time.perf_counter() - began
        assert answer.status_code == 201, answer.text
        self.token = self.token or answer.json()["token"]
        self.after = max(self.after, answer.json()["message"]["id"])
        return took

    def track(self) -> float:
        body = {"event": "page_view", "visitor_id": self.vid, "message_id": uuid.uuid4().hex, "url": "https://x.test/"}
        began = time.perf_counter()
        answer = self.http.post(
            f"{self.base}/api/track?key={self.key}", content=json.dumps(body), headers={"Content-Type": "text/plain"}
        )
        assert answer.status_code == 202, answer.text
        return time.perf_counter() - began

    def poll_loop(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            answer = self.post("/api/widget/poll", {"token": self.token, "after": self.after})
            now = time.perf_counter()
            self.polls.append(now - began)
            for message in answer.json()["messages"]:
                self.seen.setdefault(message["id"], now)
                self.after = max(self.after, message["id"])
            self.stop.wait(POLL_S)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    database = fresh_database("clarm_bench_widget")
    env = bench_env(database)
    env["REDIS_URL"] = os.environ.get("BENCH_WIDGET_REDIS_URL", "redis://127.0.0.1:6402/7")
    env["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.update(env)
    manage(env, "migrate", "--verbosity", "0")
    import django

    django.setup()
    from django.contrib.auth.models import User

    from agents.models import Message
    from agents.services import conversation_reply
    from agents.webchat import widget_save
    from workspaces.services import workspace_create

    owner = User.objects.create_user("owner", "owner@bench.example", "x")
    workspace, write_key, _ = workspace_create(name="Hudson Movers", owner=owner, timezone_name="America/New_York")
    widget_save(workspace=workspace, enabled=True, color="#0a7d4f", greeting="Hi!")
    print(json.dumps(machine_facts()))
    port = int(os.environ.get("BENCH_WIDGET_PORT", "7403"))
    sends: list[float] = []
    tracks: list[float] = []
    replies: list[float] = []
    with gunicorn(env, port, name="widget") as server:
        visitors = [Visitor(server.base, write_key, n) for n in range(args.visitors)]
        for visitor in visitors:  # each chat started (a token), then the poll loops
            visitor.say("hello")
        loops = [threading.Thread(target=v.poll_loop, daemon=True) for v in visitors]
        for loop in loops:
            loop.start()
        time.sleep(1)
        pending: list[tuple[Visitor, int, float]] = []
        for n in range(args.rounds):
            for visitor in visitors:
                tracks.append(visitor.track())
                sends.append(visitor.say(f"round {n}: can you move a piano?"))
                customer = Message.objects.filter(workspace=workspace, body__startswith=f"round {n}").latest("pk")
                reply = conversation_reply(
                    workspace=workspace, customer=customer.customer, body=f"Yes ({n})", channel="web"
                )
                pending.append((visitor, reply.pk, time.perf_counter()))
                time.sleep(0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(pk not in v.seen for v, pk, _ in pending):
            time.sleep(0.1)
        for visitor in visitors:
            visitor.stop.set()
        for loop in loops:
            loop.join()
        missing = [pk for v, pk, _ in pending if pk not in v.seen]
        replies = [v.seen[pk] - at for v, pk, at in pending if pk in v.seen]
        polls = [p for v in visitors for p in v.polls]
    print(line("POST /api/track, one event (baseline)", tracks))
    print(line("POST /api/widget/messages (message stored, on the timeline)", sends))
    print(line(f"team reply → shown by the widget (poll every {POLL_S} s)", replies))
    print(line("POST /api/widget/poll", polls))
    print(
        f"message POST / track POST: p50 {statistics.median(sends) / statistics.median(tracks):.2f}x, "
        f"p95 {pct(sends, 0.95) / pct(tracks, 0.95):.2f}x; replies never shown: {len(missing)}; "
        f"{args.visitors} open chats polling ({args.visitors / POLL_S:.0f} polls/s)"
    )


if __name__ == "__main__":
    main()
