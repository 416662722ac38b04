"""Logs carry no tokens, keys, emails, phone numbers or IPs; production refuses to start with a mail
backend that prints messages (password-reset and invitation links) instead of sending them."""

import contextlib
import logging
import logging.config
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from clarm.logredact import RedactFilter, redact

ROOT = Path(__file__).resolve().parents[2]
SECRETS = [
    "ana.silva+quote@example.com",
    "ana.silva%2Bquote%40example.com",
    "+447700900123",
    "+44 7700 900123",
    "203.0.113.77",
    "2001:db8::77",
    "wk_Zx3f9kq1aB2c3D4e5F6g7H8i9J0kLmNoPqRsTuVw",
    "sk_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90",
    "whsec_clarm_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56",
    "cb1xyz-0123456789abcdef0123456789abcdef",  # an allauth password-reset key
]


@pytest.mark.parametrize("secret", SECRETS)
def test_redact_removes_each_kind_of_secret(secret):
    line = f"lookup for {secret} at /api/customers?email={secret}&limit=5 failed"
    assert secret not in redact(line)


def test_redact_keeps_ordinary_log_lines_readable():
    for line in [
        "webhook delivery 123 failed: KeyError('amount')",
        "ingest failed after retries at 12:30:45 on 2026-12-05",
        "GET /w/acme-movers/customers/42/ 200 1532 12ms",
        "Task clarm.task_hop[6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b] succeeded in 0.0036123456789s",
    ]:
        assert redact(line) == line


def test_links_with_tokens_are_cut_from_paths():
    for path in [
        "/accounts/password/reset/key/4-cb1xyz-0123456789abcdef0123456789abcdef/",
        "/accounts/confirm-email/MTI:1tAbCd:xyzXYZ0123456789abcdEFGH/",
        "/invitations/Zx3f9_kq-1aB2c3D4e5F6g7H8i9J0kLmNoP/",
        "/u/AbCdEfGh123/",
        "/privacy/preferences/tok3n-Value/",
    ]:
        token = path.rstrip("/").rsplit("/", 1)[1]
        assert token not in redact(f"GET {path} 200"), path


def test_every_configured_handler_redacts(caplog):
    """The project's LOGGING puts the filter on its handler: a record with an email in its
    arguments and an IP in its traceback comes out clean."""

    logging.config.dictConfig(settings.LOGGING)
    handler = logging.getLogger().handlers[0]
    assert any(isinstance(f, RedactFilter) for f in handler.filters)
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "login failed for %s", ("ana@example.com",), None)
    try:
        raise ValueError("from 203.0.113.77")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = logging.Formatter().format(record) if handler.filter(record) else ""
    assert "ana@example.com" not in text and "203.0.113.77" not in text
    assert "login failed for [email]" in text and "ValueError" in text


def test_the_celery_worker_logs_through_the_same_filter():
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False


def _production_check(tmp_path, **env):
    base = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clarm.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "clarm.example.com",
        "CLARM_VAR_DIR": str(tmp_path),
    }
    base.pop("EMAIL_BACKEND", None)
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_the_console_email_backend(tmp_path):
    result = _production_check(tmp_path)
    assert result.returncode != 0
    assert "clarm.E001" in result.stderr and "does not send mail" in result.stderr


def test_a_production_web_process_refuses_to_start_with_the_console_backend(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clarm.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CLARM_VAR_DIR": str(tmp_path),
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import clarm.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "clarm.E001" in result.stderr


def test_production_starts_with_a_real_email_backend(tmp_path):
    result = _production_check(
        tmp_path,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="smtp.sendgrid.net",
        EMAIL_HOST_USER="apikey",
        EMAIL_HOST_PASSWORD="not-a-real-key",
    )
    assert result.returncode == 0, result.stderr


def test_the_access_log_of_run_sh_has_no_address_no_query_and_no_token(tmp_path):
    """gunicorn as scripts/run.sh starts it (clarm/gunicorn_conf.py), a request a proxy forwarded
    for a visitor, with an email lookup and a password-reset link: the log line has neither."""
    port = 7531
    env = {**os.environ, "CLARM_VAR_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [
            *(str(ROOT / ".venv/bin/gunicorn"), "-c", "clarm/gunicorn_conf.py", "clarm.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/static/clarm.js", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        for path in [
            "/api/customers?email=ana.silva%40example.com&phone=%2B447700900123",
            "/accounts/password/reset/key/4-cb1xyz-0123456789abcdef0123456789abcdef/",
        ]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", headers={"X-Forwarded-For": "203.0.113.77"}
            )
            with contextlib.suppress(OSError):  # 401 / 404: only the log line matters here
                urllib.request.urlopen(request, timeout=10)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    log = out + err
    assert "/api/customers" in log and "/accounts/password/reset/key/" in log  # the requests were logged
    for secret in ["ana.silva", "447700900123", "203.0.113.77", "127.0.0.1", "0123456789abcdef0123456789abcdef"]:
        assert secret not in log, secret
