"""Consent records are a processor of the pipeline: each stitched consent event gets its record
(identity.privacy.services.consent_record_from_event, idempotent per event). An opt-out is already
applied by the stitcher in its batch's own transaction (identity.stitching.stitcher), so here it is
found recorded; only if that failed is it applied here, right after the commit, and failing that by
the task, which retries. A grant is recorded by the task."""

import logging

from clarm.publish import task_publish
from identity.privacy.tasks import consent_record_from_event
from tracking.models import Event
from tracking.prepared import CONSENT_EVENTS, OPT_OUT_EVENTS

logger = logging.getLogger(__name__)


def events_stitched(workspace_id: int, event_ids: list[int]) -> None:
    # A batch's ids are one range, mostly: read it by range (an index range scan, two parameters) and
    # keep the batch's own.
    wanted = set(event_ids)
    if not wanted:
        return
    in_range = Event.objects.filter(
        workspace_id=workspace_id, pk__gte=min(wanted), pk__lte=max(wanted), event__in=CONSENT_EVENTS
    ).order_by("pk")
    for event_id, name in in_range.values_list("pk", "event"):
        if event_id not in wanted:
            continue
        if name in OPT_OUT_EVENTS:
            try:
                consent_record_from_event(event_id)
                continue
            except Exception:  # the events are committed: the task retries what failed here
                logger.exception("opt-out event %s not applied after its stitch; left to the task", event_id)
        # Bounded wait: when the broker is down, identity.consent_records_resume records it later.
        task_publish(consent_record_from_event, event_id)
