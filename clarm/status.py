"""How the pipeline is doing: `GET /api/status` (a workspace's secret key) and `GET /metrics`
(Prometheus text, bearer CLARM_METRICS_TOKEN; 404 without a token set).

Figures (docs/ingest.md "Observability"): events pending (appended, not yet stitched) and stuck,
the stitch lag (the age of the oldest pending event: `stitch_lag_seconds`, 0 when none is waiting)
and the lag of recently stitched events (p50/p99), events stitched, and each processor's backlog:
destination deliveries waiting, events the dashboard's rollups have not counted yet, and the
enrichment queue. This module is the project's top layer: it reads every app, none reads it."""

import hmac
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from enrichment.queue import QUEUE_KEY as ENRICH_QUEUE_KEY
from identity.api.views import UNAUTHORIZED, SecretKeyApi
from identity.models import RollupState
from identity.stitching.metrics import stitch_lag_quantiles, stitched_total
from integrations.destinations.models import DUE_STATES, DestinationDelivery
from tracking.hotcache import redis_client
from tracking.models import Event, PendingEvent


def _age(oldest: datetime | None, now: datetime) -> float:
    return round(max(0.0, (now - oldest).total_seconds()), 3) if oldest else 0.0


def _pending_of(rows: Any, now: datetime) -> dict[str, Any]:
    stuck = Q(attempts__gte=settings.CLARM_STITCH_MAX_ATTEMPTS)
    found = rows.aggregate(pending=Count("id"), stuck=Count("id", filter=stuck), oldest=Min("received_at"))
    return {"pending": found["pending"], "stuck": found["stuck"], "lag": _age(found["oldest"], now)}


def _rollups_backlog(workspace_id: int) -> int:
    counted = RollupState.objects.filter(workspace_id=workspace_id).values_list("last_event_id", flat=True).first()
    return Event.objects.filter(workspace_id=workspace_id, id__gt=counted or 0).count()


def _enrichment_queue() -> int | None:
    client = redis_client()
    return int(client.llen(ENRICH_QUEUE_KEY)) if client is not None else None


def workspace_status(workspace_id: int) -> dict[str, Any]:
    now = timezone.now()
    pending = _pending_of(PendingEvent.objects.filter(workspace_id=workspace_id), now)
    lags = stitch_lag_quantiles()
    return {
        "stitch_lag_seconds": pending["lag"],
        "events_pending": pending["pending"],
        "events_stuck": pending["stuck"],
        "stitch_lag_p50_seconds": lags["p50"],
        "stitch_lag_p99_seconds": lags["p99"],
        "processors": {
            "destinations_due": DestinationDelivery.objects.filter(
                destination__workspace_id=workspace_id, status__in=DUE_STATES
            ).count(),
            "rollups_uncounted_events": _rollups_backlog(workspace_id),
        },
    }


_STATUS_OUT = inline_serializer(
    "PipelineStatus",
    {
        "stitch_lag_seconds": serializers.FloatField(
            help_text="Age of this workspace's oldest event not yet stitched (0 when none is waiting)."
        ),
        "events_pending": serializers.IntegerField(help_text="Events answered 202 and not stitched yet."),
        "events_stuck": serializers.IntegerField(help_text="Pending events that failed to stitch too often."),
        "stitch_lag_p50_seconds": serializers.FloatField(help_text="202 → stored, recent events (deployment)."),
        "stitch_lag_p99_seconds": serializers.FloatField(),
        "processors": inline_serializer(
            "ProcessorBacklogs",
            {"destinations_due": serializers.IntegerField(), "rollups_uncounted_events": serializers.IntegerField()},
        ),
    },
)


class StatusApi(SecretKeyApi):
    @extend_schema(operation_id="pipeline_status", responses={200: _STATUS_OUT, **UNAUTHORIZED}, tags=["status"])
    def get(self, request: Request) -> Response:
        """The event pipeline as this workspace sees it: stitch lag, pending events, processor backlogs."""
        return Response(workspace_status(self.workspace(request).pk))


def _metric(lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value:g}" for labels, value in samples]


def metrics_text() -> str:
    now = timezone.now()
    by_partition = {
        row["partition"]: row
        for row in PendingEvent.objects.values("partition").annotate(n=Count("id"), oldest=Min("received_at"))
    }
    partitions = range(settings.CLARM_STITCH_PARTITIONS)
    depth = [(f'{{partition="{p}"}}', float(by_partition.get(p, {}).get("n", 0))) for p in partitions]
    oldest = [(f'{{partition="{p}"}}', _age(by_partition.get(p, {}).get("oldest"), now)) for p in partitions]
    lags = stitch_lag_quantiles()
    stitched = stitched_total()
    pending = sum(value for _, value in depth)
    lines: list[str] = []
    _metric(lines, "clarm_events_stitched_total", "counter", "Events stored by the stitchers.", [("", stitched)])
    _metric(
        lines,
        "clarm_events_appended_total",
        "counter",
        "Events appended by the edge (stitched + pending).",
        [("", stitched + pending)],
    )
    _metric(lines, "clarm_stitch_queue_depth", "gauge", "Events appended and not stitched yet.", depth)
    _metric(lines, "clarm_stitch_oldest_pending_seconds", "gauge", "Age of the oldest pending event.", oldest)
    _metric(
        lines,
        "clarm_stitch_lag_seconds",
        "summary",
        "202 to stored, recent events.",
        [('{quantile="0.5"}', lags["p50"]), ('{quantile="0.99"}', lags["p99"])],
    )
    due = DestinationDelivery.objects.filter(status__in=DUE_STATES).count()
    _metric(
        lines,
        "clarm_processor_backlog",
        "gauge",
        "Work waiting per processor.",
        [('{processor="destinations"}', float(due))]
        + ([('{processor="enrichment"}', float(queue))] if (queue := _enrichment_queue()) is not None else []),
    )
    return "\n".join(lines) + "\n"


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.CLARM_METRICS_TOKEN
    if not token:
        raise Http404("No metrics token is set (CLARM_METRICS_TOKEN).")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        return HttpResponse(
            "Unauthorized: send Authorization: Bearer <CLARM_METRICS_TOKEN>.\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8")
