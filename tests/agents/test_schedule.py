"""The Friday 17:00 (workspace time zone) schedule, driven through the beat task with the clock
moved by time_machine. Celery runs eagerly in tests, so a queued send happens inside the tick."""

import smtplib

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache

from agents.summary.services import SENT_ACTION, SendOutcome, weekly_summary_send
from agents.tasks import weekly_summaries_due, weekly_summary_send_task
from clarm.celery_app import app as celery_app
from tests.agents.conftest import utc
from workspaces.models import AuditLog

pytestmark = pytest.mark.django_db

# 2025-W11: Friday 14 March. Tokyo is UTC+9; Los Angeles is on PDT (UTC-7) since 9 March.
TOKYO_FRIDAY_17 = utc(2025, 3, 14, 8, 0)
LA_FRIDAY_17 = utc(2025, 3, 15, 0, 0)


def tick(at):
    with time_machine.travel(at, tick=False):
        return weekly_summaries_due()


def sent_weeks(workspace):
    return list(AuditLog.objects.filter(workspace=workspace, action=SENT_ACTION).values_list("target", flat=True))


def test_each_workspace_is_sent_at_its_own_friday_17(tokyo, los_angeles):
    assert tick(TOKYO_FRIDAY_17) == [[tokyo.workspace.pk, "2025-W11"]]
    assert [m.to for m in mail.outbox] == [["owner@sakura.example", "shop@sakura.example"]]
    assert sent_weeks(tokyo.workspace) == ["2025-W11"]
    assert sent_weeks(los_angeles.workspace) == []  # 01:00 on Friday in Los Angeles

    assert tick(LA_FRIDAY_17) == [[los_angeles.workspace.pk, "2025-W11"]]
    assert [m.to for m in mail.outbox][1:] == [["boss@pacific.example"]]
    assert sent_weeks(los_angeles.workspace) == ["2025-W11"]
    assert sent_weeks(tokyo.workspace) == ["2025-W11"]  # Saturday 09:00 in Tokyo: nothing more


def test_a_second_tick_does_not_send_again(tokyo):
    tick(TOKYO_FRIDAY_17)
    assert tick(utc(2025, 3, 14, 8, 15)) == []
    assert tick(utc(2025, 3, 14, 14, 45)) == []  # 23:45 in Tokyo, still Friday
    assert len(mail.outbox) == 1
    assert sent_weeks(tokyo.workspace) == ["2025-W11"]


@pytest.mark.parametrize(
    "at",
    [
        utc(2025, 3, 14, 7, 59),  # Friday 16:59 in Tokyo
        utc(2025, 3, 13, 8, 0),  # Thursday 17:00 in Tokyo
        utc(2025, 3, 15, 8, 0),  # Saturday 17:00 in Tokyo
        utc(2025, 3, 14, 15, 0),  # Saturday 00:00 in Tokyo
    ],
)
def test_not_sent_outside_friday_from_17(tokyo, at):
    assert tick(at) == []
    assert mail.outbox == []
    assert sent_weeks(tokyo.workspace) == []


def test_a_late_tick_still_sends_once(tokyo):
    """The worker was down at 17:00: the 17:40 tick sends, the 17:55 one does not."""
    assert tick(utc(2025, 3, 14, 8, 40)) == [[tokyo.workspace.pk, "2025-W11"]]
    assert tick(utc(2025, 3, 14, 8, 55)) == []
    assert len(mail.outbox) == 1


def test_daylight_saving_time_moves_the_utc_instant(los_angeles):
    # 2025-W10: Friday 7 March, Los Angeles on PST (UTC-8): 17:00 is 01:00 UTC on Saturday,
    # so the instant that is 17:00 a week later (00:00 UTC) is only 16:00 here.
    assert tick(utc(2025, 3, 8, 0, 0)) == []
    assert tick(utc(2025, 3, 8, 0, 59)) == []
    assert tick(utc(2025, 3, 8, 1, 0)) == [[los_angeles.workspace.pk, "2025-W10"]]
    assert tick(LA_FRIDAY_17) == [[los_angeles.workspace.pk, "2025-W11"]]
    assert sent_weeks(los_angeles.workspace) == ["2025-W11", "2025-W10"]


def test_workspace_without_recipients_is_skipped(tokyo):
    tokyo.workspace.summary_recipients = []
    tokyo.workspace.save(update_fields=["summary_recipients"])
    assert tick(TOKYO_FRIDAY_17) == []
    assert mail.outbox == []


def test_a_send_in_progress_elsewhere_is_not_doubled(tokyo):
    """Another worker holds the lock: this one sends nothing and records nothing."""
    cache.add(f"agents:summary:lock:{tokyo.workspace.pk}:2025-W11", "other-worker", timeout=60)
    assert tick(TOKYO_FRIDAY_17) == [[tokyo.workspace.pk, "2025-W11"]]  # queued, but the send stands back
    assert mail.outbox == []
    assert sent_weeks(tokyo.workspace) == []
    cache.delete(f"agents:summary:lock:{tokyo.workspace.pk}:2025-W11")
    tick(utc(2025, 3, 14, 8, 15))
    assert len(mail.outbox) == 1


def test_the_send_is_idempotent_and_force_resends(tokyo):
    with time_machine.travel(TOKYO_FRIDAY_17, tick=False):
        assert weekly_summary_send(workspace=tokyo.workspace, week_key="2025-W11") == SendOutcome.SENT
        assert weekly_summary_send(workspace=tokyo.workspace, week_key="2025-W11") == SendOutcome.ALREADY_SENT
        assert weekly_summary_send(workspace=tokyo.workspace, week_key="2025-W11", force=True) == SendOutcome.SENT
    assert len(mail.outbox) == 2
    assert sent_weeks(tokyo.workspace) == ["2025-W11", "2025-W11"]
    assert cache.get(f"agents:summary:lock:{tokyo.workspace.pk}:2025-W11") is None


class FlakySMTPBackend:
    """Refuses the first `failures` messages like an unreachable mail server, then delivers."""

    failures = 0

    def __init__(self, *args, **kwargs):
        from django.core.mail.backends.locmem import EmailBackend

        self.inner = EmailBackend(*args, **kwargs)

    def send_messages(self, messages):
        if FlakySMTPBackend.failures > 0:
            FlakySMTPBackend.failures -= 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return self.inner.send_messages(messages)


@pytest.fixture
def worker_like_retries(monkeypatch):
    """Eager tasks raise celery's Retry to the caller when errors propagate; a worker does not.
    Without propagation the eager run retries in place like a worker (without the countdown)."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


def test_smtp_errors_are_retried_and_still_sent_once(tokyo, settings, worker_like_retries):
    settings.EMAIL_BACKEND = "tests.agents.test_schedule.FlakySMTPBackend"
    FlakySMTPBackend.failures = 2
    assert weekly_summary_send_task.max_retries == 6
    assert weekly_summary_send_task.retry_backoff == 60  # type: ignore[attr-defined]
    tick(TOKYO_FRIDAY_17)
    assert FlakySMTPBackend.failures == 0
    assert len(mail.outbox) == 1
    assert sent_weeks(tokyo.workspace) == ["2025-W11"]
    assert cache.get(f"agents:summary:lock:{tokyo.workspace.pk}:2025-W11") is None


def test_smtp_down_for_good_records_nothing(tokyo, settings, worker_like_retries):
    settings.EMAIL_BACKEND = "tests.agents.test_schedule.FlakySMTPBackend"
    FlakySMTPBackend.failures = 100
    tick(TOKYO_FRIDAY_17)
    assert FlakySMTPBackend.failures == 100 - 7  # the first try and six retries
    FlakySMTPBackend.failures = 0
    assert mail.outbox == []
    assert sent_weeks(tokyo.workspace) == []
    # The next tick tries again and succeeds.
    tick(utc(2025, 3, 14, 8, 15))
    assert len(mail.outbox) == 1
