"""Soak: a real Segment SDK client (segment-analytics-python, retrying as shipped) sends events to
Clarm while PostgreSQL is cut for 5 s, Redis hangs for 5 s, the stitcher (`manage.py stitch`) is
killed with kill -9 while events are pending (and started again 2 s later, as a supervisor would),
and a Celery worker is killed with kill -9 in the middle of a task. Once the SDK has flushed and the
pending queue is empty, it counts events lost and duplicated (stored events, after stitching), the
answer times of a probe client during the cuts, and how long until the killed worker's task runs again.

It runs on its OWN PostgreSQL (initdb in a temporary folder) and Redis, since it stops them; the
shared servers are never touched. Ports: SOAK_PG_PORT (7532), SOAK_REDIS_PORT (7579), SOAK_WEB_PORT
(7501). About three minutes.

    .venv/bin/python bench/soak.py [--seconds 100] [--rate 40]
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PORT = int(os.environ.get("SOAK_PG_PORT", "7532"))
REDIS_PORT = int(os.environ.get("SOAK_REDIS_PORT", "7579"))
WEB_PORT = int(os.environ.get("SOAK_WEB_PORT", "7501"))
DB = "clarm_soak"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


class Services:
    """The soak's private PostgreSQL and Redis, which it may stop and start at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pgdata = folder / "pg"
        self.redis: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            as_postgres(str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "-A", "trust"),
            check=True,
            capture_output=True,
        )
        self.pg_start()
        subprocess.run(as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(PG_PORT), DB), check=True)
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(50):
            try:
                redis.Redis(port=REDIS_PORT).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)

    def pg_start(self) -> None:
        subprocess.run(
            as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-l",
                str(self.folder / "pg.log"),
                "-o",
                f"-p {PG_PORT} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def pg_stop(self) -> None:
        subprocess.run(
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "immediate", "stop"),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        if self.redis:
            self.redis.kill()
            self.redis.wait()
        subprocess.run(
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "stop"), capture_output=True
        )


def env_for(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="clarm.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{PG_PORT}/{DB}",
        REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
        CLARM_VAR_DIR=str(folder / "var"),
        DJANGO_SECRET_KEY="soak-" + uuid.uuid4().hex * 2,
        CLARM_RATE_LIMIT_PER_MINUTE="1000000",
        PYTHONWARNINGS="ignore",
        PYTHONPATH=str(ROOT),
    )
    return env


def spawn(env: dict[str, str], args: list[str], logfile: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=logfile.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def worker(env: dict[str, str], name: str, folder: Path) -> subprocess.Popen[bytes]:
    return spawn(
        env,
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "clarm",
            "worker",
            "-n",
            f"{name}@soak",
            "-c",
            "2",
            "--include",
            "bench.soak_tasks",
            "--loglevel",
            "warning",
        ],
        folder / f"{name}.log",
    )


def stitcher(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    """`manage.py stitch`: stores the events the edge appended (the pipeline's second stage)."""
    return spawn(env, [str(ROOT / ".venv/bin/python"), "manage.py", "stitch"], folder / "stitch.log")


def pending_count() -> int | None:
    """Events appended and not stitched yet (None while PostgreSQL does not answer)."""
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/{DB}", connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM tracking_pendingevent").fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else 0


class Probe(threading.Thread):
    """One /api/track request every 0.25 s: its answer time and status, to see what a client
    gets during each cut."""

    def __init__(self, write_key: str) -> None:
        super().__init__(daemon=True)
        self.write_key = write_key
        self.samples: list[tuple[float, float, int | str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                started = time.time()
                try:
                    r = client.post(
                        f"http://127.0.0.1:{WEB_PORT}/api/track",
                        json={"event": "probe", "visitor_id": "probe", "message_id": f"probe-{n}"},
                        headers={"X-Clarm-Key": self.write_key},
                    )
                    status: int | str = r.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.samples.append((started, time.time() - started, status))
                time.sleep(0.25)

    def during(self, start: float, end: float) -> dict[str, object]:
        inside = [(d, s) for t, d, s in self.samples if start <= t <= end]
        statuses: dict[str, int] = {}
        for _, s in inside:
            statuses[str(s)] = statuses.get(str(s), 0) + 1
        return {
            "requests": len(inside),
            "max_seconds": round(max((d for d, _ in inside), default=0), 2),
            "statuses": statuses,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=100)
    parser.add_argument("--rate", type=float, default=40, help="events per second the SDK is given")
    opts = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="clarm-soak-"))
    services = Services(folder)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        log(f"private PostgreSQL :{PG_PORT} and Redis :{REDIS_PORT} in {folder}")
        services.start()
        env = env_for(folder)
        py = str(ROOT / ".venv/bin/python")
        subprocess.run([py, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
        made = subprocess.run(
            [py, "manage.py", "createworkspace", "Soak", "--owner-email", "soak@example.com", "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        workspace = json.loads(made.stdout)
        write_key = workspace["write_key"]
        procs.append(
            spawn(
                env,
                [
                    str(ROOT / ".venv/bin/gunicorn"),
                    "-c",
                    "clarm/gunicorn_conf.py",
                    "clarm.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{WEB_PORT}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--log-level",
                    "warning",
                    "--access-logfile",
                    "/dev/null",
                ],
                folder / "web.log",
            )
        )
        worker_a, worker_b = worker(env, "a", folder), worker(env, "b", folder)
        procs += [worker_a, worker_b]
        stitchers = [stitcher(env, folder)]
        procs.append(stitchers[0])
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{WEB_PORT}/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(3)  # workers connected

        from segment.analytics import Client

        errors: list[str] = []
        sdk = Client(
            write_key,
            host=f"http://127.0.0.1:{WEB_PORT}",
            on_error=lambda e, batch: errors.append(str(e)),
            max_retries=10,
            upload_interval=0.2,
            upload_size=50,
            timeout=10,
        )
        sent: list[str] = []
        probe = Probe(write_key)
        probe.start()
        t0 = time.time()
        marks: dict[str, tuple[float, float]] = {}
        redis_soak = redis.Redis(port=REDIS_PORT, db=5, decode_responses=True)

        def chaos() -> None:
            time.sleep(opts.seconds * 0.15)
            a = time.time()
            log("PostgreSQL cut (pg_ctl stop -m immediate) for 5 s")
            services.pg_stop()
            time.sleep(5)
            services.pg_start()
            marks["postgres_cut"] = (a, time.time())
            log("PostgreSQL back")
            time.sleep(opts.seconds * 0.15)
            redis_pid = services.redis.pid if services.redis else 0
            a = time.time()
            log("Redis hangs (SIGSTOP) for 5 s")
            os.kill(redis_pid, signal.SIGSTOP)
            time.sleep(5)
            os.kill(redis_pid, signal.SIGCONT)
            marks["redis_cut"] = (a, time.time())
            log("Redis back")
            # The stitcher survived both cuts (it retries a pass the database failed)?
            stitcher_facts["alive_after_the_cuts"] = stitchers[0].poll() is None
            time.sleep(opts.seconds * 0.1)
            # kill -9 of the stitcher while events wait for it (mid-batch when it has one), then a
            # new one 2 s later, as a supervisor would start it.
            waited = time.time()
            while not (pending_count() or 0) and time.time() - waited < 10:
                time.sleep(0.01)
            stitcher_facts["pending_at_kill"] = pending_count()
            a = time.time()
            log(f"kill -9 the stitcher (pid {stitchers[0].pid}); {stitcher_facts['pending_at_kill']} events pending")
            os.killpg(stitchers[0].pid, signal.SIGKILL)
            stitchers[0].wait()
            time.sleep(2)
            stitchers.append(stitcher(env, folder))
            procs.append(stitchers[-1])
            marks["stitcher_killed"] = (a, time.time())
            log("stitcher started again")
            time.sleep(opts.seconds * 0.05)
            # A task in flight on worker a, then kill -9 of that whole worker (main process and pool).
            token = uuid.uuid4().hex[:8]
            from celery import Celery

            app = Celery(broker=env["REDIS_URL"])
            app.conf.broker_transport_options = {"visibility_timeout": 40}
            app.send_task("bench.soak_slow", args=(token, 8.0))
            started_key = f"soak:{token}:started"
            client = redis.Redis(port=REDIS_PORT, db=0, decode_responses=True)
            while not client.llen(started_key):
                time.sleep(0.05)
            first = str(client.lindex(started_key, 0)).split(":")
            victim = worker_a if int(first[2]) == worker_a.pid else worker_b
            survivor = "b" if victim is worker_a else "a"
            # Acks Redis did not answer during its hang: kombu used to keep each one's prefetch slot
            # taken for good, and a worker with both slots taken never took another task.
            for name in ("a", "b"):
                failed = (folder / f"{name}.log").read_text(errors="replace").count("Couldn't ack")
                redis_soak.set(f"failed_acks_{name}", failed)
            redis_soak.set("survivor", survivor)
            time.sleep(1)
            killed = time.time()
            log(f"kill -9 worker {'a' if victim is worker_a else 'b'} (pid {victim.pid} and its pool) mid-task")
            os.killpg(victim.pid, signal.SIGKILL)
            while client.llen(started_key) < 2 and time.time() - killed < 300:
                time.sleep(0.1)
            runs = [float(str(r).split(":")[0]) for r in client.lrange(started_key, 0, -1)]
            again = runs[1] if len(runs) > 1 else None
            while not client.llen(f"soak:{token}:finished") and time.time() - killed < 300:
                time.sleep(0.1)
            redis_soak.set("task_again_after", "" if again is None else str(round(again - killed, 1)))
            redis_soak.set("task_runs", client.llen(started_key))
            redis_soak.set("task_finished", client.llen(f"soak:{token}:finished"))
            log(
                f"the killed task ran again on worker {survivor} after "
                f"{'never' if again is None else f'{again - killed:.1f} s'}"
            )

        stitcher_facts: dict[str, object] = {}
        chaos_thread = threading.Thread(target=chaos)
        chaos_thread.start()
        n = 0
        while time.time() - t0 < opts.seconds:
            n += 1
            _, msg = sdk.track(user_id=f"user-{n % 200}", event="Soak Event", properties={"seq": n})
            sent.append(msg["messageId"])
            time.sleep(1 / opts.rate)
        log(f"SDK given {len(sent)} events; flushing")
        sdk.flush()
        flushed = time.time()
        while (pending_count() or 0) and time.time() - flushed < 300:
            time.sleep(0.05)
        drained = time.time() - flushed
        log(f"pending queue empty {drained:.2f} s after the SDK's last delivery")
        chaos_thread.join()
        probe.stop.set()
        probe.join()
        waited = time.time()
        while (pending_count() or 0) and time.time() - waited < 60:  # the probe's last events
            time.sleep(0.05)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{PG_PORT}/{DB}") as conn:
            rows = conn.execute(
                "SELECT message_id, count(*) FROM tracking_event WHERE event = 'Soak Event' GROUP BY message_id"
            ).fetchall()
            left = conn.execute("SELECT count(*) FROM tracking_pendingevent").fetchone()
            keys = conn.execute("SELECT count(*) FROM tracking_dedupekey WHERE key NOT LIKE 'probe-%'").fetchone()
        stored = {m: c for m, c in rows}
        lost = sum(1 for m in sent if m not in stored)
        duplicates = sum(c - 1 for c in stored.values())
        stored_keys = set(stored)
        result = {
            "events_given_to_the_sdk": len(sent),
            "stored": len(stored_keys),
            "lost": lost,
            "duplicates": duplicates,
            "sdk_errors_reported": len(errors),
            "pending_left": int(left[0]) if left else None,
            "dedupe_keys_of_soak_events": int(keys[0]) if keys else None,
            "queue_empty_after_the_sdk_flushed_seconds": round(drained, 2),
            "stitcher": stitcher_facts,
            "probe_during_stitcher_kill": probe.during(*marks["stitcher_killed"]),
            "probe_during_postgres_cut": probe.during(*marks["postgres_cut"]),
            "probe_during_redis_hang": probe.during(*marks["redis_cut"]),
            "probe_answer_seconds_median": round(statistics.median(d for _, d, _ in probe.samples), 3),
            "killed_task_ran_again_after_seconds": (redis_soak.get("task_again_after") or ""),
            "killed_task_runs": int(redis_soak.get("task_runs") or 0),
            "killed_task_finished": int(redis_soak.get("task_finished") or 0),
            "surviving_worker": redis_soak.get("survivor"),
            "failed_acks_before_the_kill": {n: int(redis_soak.get(f"failed_acks_{n}") or 0) for n in ("a", "b")},
        }
        print(json.dumps(result, indent=2))
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "soak.json").write_text(json.dumps(result, indent=2))
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        services.stop()
        if keep := os.environ.get("SOAK_KEEP_LOGS"):  # a folder for the processes' logs
            Path(keep).mkdir(parents=True, exist_ok=True)
            for logfile in folder.glob("*.log"):
                shutil.copy(logfile, Path(keep) / logfile.name)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
