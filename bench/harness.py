"""Shared benchmark plumbing: a fresh PostgreSQL database, a gunicorn server, wrk runs, and the
server-side count of what was answered (gunicorn's access log)."""

import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# The Redis the benches use (databases 11-13 of it): BENCH_REDIS_PORT, for a machine where 6379 is
# someone else's.
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6379"))
# One access-log line per answered request: status, method, path, query string.
ACCESS_FORMAT = "%(s)s %(m)s %(U)s %(q)s"


def fresh_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def psycopg_url(database_url: str) -> str:
    return database_url.replace("postgres://", "postgresql://", 1)


def bench_env(database_url: str, redis_db: int = 12) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/{redis_db}",
        DJANGO_SETTINGS_MODULE="bench.settings",
        CLARM_RATE_LIMIT_PER_MINUTE="100000000",
        DATABASE_CONN_MAX_AGE="600",
        PYTHONWARNINGS="ignore",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def machine_facts() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    with psycopg.connect(PG_ADMIN) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    wrk_version = ""
    if shutil.which("wrk"):
        first = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
        wrk_version = first[0] if first else ""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "postgresql": str(row[0]) if row else "?",
        "python": platform.python_version(),
        "wrk": wrk_version,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


@dataclass
class Server:
    base: str
    access_log: Path

    def log_size(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def answered_by_run(self) -> dict[str, dict[int, int]]:
        """Answers logged so far, by the `run=` tag of their query string, then by status."""
        counts: dict[str, dict[int, int]] = {}
        for line in self.access_log.read_text().splitlines():
            parts = line.split(" ")
            if len(parts) < 4 or not parts[0].isdigit():
                continue
            query = dict(p.partition("=")[::2] for p in parts[3].split("&") if p)
            run = counts.setdefault(query.get("run", ""), {})
            run[int(parts[0])] = run.get(int(parts[0]), 0) + 1
        return counts


@contextmanager
def gunicorn(
    env: dict[str, str],
    port: int,
    workers: int | None = None,
    name: str = "bench",
    app: str = "clarm.wsgi:application",
    keep_log: bool = False,
) -> Iterator[Server]:
    """The real app (plus bench/urls.py) under gunicorn sync workers, as deployed. Default
    workers: 2 × cores. Every answer is logged (status first) to bench/results/<name>-access.log."""
    workers = workers or 2 * (os.cpu_count() or 1)
    # A plain `kill` of the bench must still stop its gunicorn (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = f"http://127.0.0.1:{port}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    access_log = RESULTS / f"{name}-access.log"
    if not keep_log:
        access_log.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            ACCESS_FORMAT,
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        for _ in range(150):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not answer within 30 s")
        yield Server(base=base, access_log=access_log)
    finally:
        # Graceful stop: the requests being served finish (and are logged); connections still
        # queued in the backlog are dropped unanswered and unprocessed.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def busy_backends(database_url: str) -> int:
    """Other sessions of that database running a statement or inside a transaction."""
    with psycopg.connect(psycopg_url(database_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
        ).fetchone()
        return int(row[0]) if row else 0


def settle(read: Callable[[], object], *, database_url: str, quiet_s: float = 1.0, timeout_s: float = 60.0) -> None:
    """Wait until no session of the database is busy and `read()` has not changed for `quiet_s`:
    requests still inside the server when the load generator stopped (even one waiting on a lock)
    finish and get logged before anything is counted."""
    last = read()
    quiet_since = time.monotonic()
    deadline = quiet_since + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = read()
        if now != last or busy_backends(database_url):
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
    print(f"warning: the server was still busy {timeout_s:.0f} s after the load stopped", flush=True)


def redis_flush(redis_db: int) -> None:
    """The bench databases are recreated: cached visit ids etc. of an earlier run must go too."""
    import redis

    redis.Redis(host="127.0.0.1", port=REDIS_PORT, db=redis_db).flushdb()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


_RESULT = re.compile(r"RESULT (.*)")


def wrk(url: str, *, seconds: int, connections: int, threads: int, lua_env: dict[str, str]) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: bash scripts/bench.sh installs it (Debian package wrk).")
    env = dict(os.environ, **lua_env)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",  # wrk's default (2 s) would drop slow answers from the latency figures
            "--latency",
            "-s",
            str(ROOT / "bench" / "load.lua"),
            url,
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = _RESULT.search(out)
    if not match:
        raise RuntimeError(f"wrk printed no RESULT line:\n{out}")
    return {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}


class Stitcher:
    """One `manage.py stitch` process next to the server (its output in bench/results/<log>.log)."""

    def __init__(self, env: dict[str, str], log: str = "pipeline-stitcher") -> None:
        self.env = env
        self.log = RESULTS / f"{log}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "stitch"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def __enter__(self) -> "Stitcher":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
