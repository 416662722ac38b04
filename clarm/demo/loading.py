"""The demo workspace's data: loading it through the real pipeline, erasing it for a reset."""

import logging
import time

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone

from agents.models import AgentSetting
from agents.services import agent_setting_save
from clarm.demo.business import NOT_SOLD, TOPICS, demo_people
from clarm.demo.journeys import story_journeys
from clarm.demo.replay import DemoResult, Replay
from identity.rollups.processor import rollups_advance
from identity.stitching.partitions import partition_lock
from tracking.models import Visit
from tracking.visits import visits_cache_forget
from workspaces.models import Membership, Workspace
from workspaces.selectors import write_key_current
from workspaces.zones import workspace_zone

logger = logging.getLogger(__name__)


def _demo_settings(workspace: Workspace) -> None:
    """The FAQ topics agent with a mover's topics and what a mover doesn't sell, and the owner as the
    summary's recipient; left as they are once set."""
    if not AgentSetting.objects.filter(workspace=workspace, agent="faq_topics").exists():
        agent_setting_save(
            workspace=workspace, agent="faq_topics", enabled=True, config={"topics": TOPICS, "not_sold": NOT_SOLD}
        )
    owner = Membership.objects.filter(workspace=workspace, role="owner").select_related("user").first()
    if not workspace.summary_recipients and owner is not None and owner.user.email:
        workspace.summary_recipients = [owner.user.email]
        workspace.save(update_fields=["summary_recipients"])


def demo_data_load(*, workspace: Workspace, write_key: str, people: int | None = None) -> DemoResult:
    """The two journeys and `people` generated people (CLARM_DEMO_PEOPLE unless given;
    clarm.demo.business) through the real ingest
    and webhook code; then the rollups are counted, so every page reads them at once. Safe to run
    again: every event has a fixed id, so a second run is all duplicates and changes nothing."""
    started = time.monotonic()
    people = settings.CLARM_DEMO_PEOPLE if people is None else people
    now = timezone.now().replace(microsecond=0)  # whole seconds, like Stripe's `created`
    result = DemoResult()
    _demo_settings(workspace)
    replay = Replay(workspace, write_key, result)
    replay.story(story_journeys(now=now, tz=workspace_zone(workspace.timezone)))
    if people:
        crowd = demo_people(now=now, tz=workspace_zone(workspace.timezone), count=people)
        replay.web_only(p for p in crowd if not p.needs_order)
        for person in sorted((p for p in crowd if p.needs_order), key=lambda p: p.first_at):
            replay.story(sorted(person.steps, key=lambda step: step.at), ip=person.ip)
    while rollups_advance(workspace_id=workspace.pk):
        pass
    logger.info(
        "demo data of %s: %s events and deliveries stored, %s duplicates, %.1f s",
        workspace.slug,
        result.accepted,
        result.duplicates,
        time.monotonic() - started,
    )
    return result


# What a reset keeps: the workspace's setup (members, keys, connections, agents, destinations,
# enrichment settings) and its audit log. Every other row of the workspace is its data.
KEPT = frozenset(
    (
        "workspaces.Membership",
        "workspaces.Invitation",
        "workspaces.ApiKey",
        "workspaces.AuditLog",
        "agents.AgentSetting",
        "agents.ChatWidget",
        "integrations.Connection",
        "integrations.Destination",
        "enrichment.EnrichmentSettings",
    )
)


def _data_models() -> list[type[models.Model]]:
    """Every model with a `workspace` foreign key, but the setup: derived from the models, so a table
    added later is data (erased by a reset) unless it is named above."""
    found = []
    for model in apps.get_models():
        field = next((f for f in model._meta.concrete_fields if f.name == "workspace"), None)
        if field is not None and field.related_model is Workspace and model._meta.label not in KEPT:
            found.append(model)
    return found


@transaction.atomic
def demo_data_erase(*, workspace: Workspace) -> dict[str, int]:
    """Delete every data row of the demo workspace (people, events, messages, deliveries, counts, …),
    under its stitch partition lock so no stitcher batch interleaves. Only a demo workspace."""
    if not workspace.is_demo:
        raise ValueError("Only the demo workspace can be reset.")
    partition_lock(workspace.pk)
    devices = list(Visit.objects.filter(workspace=workspace).values_list("device_hash", flat=True).distinct())
    deleted: dict[str, int] = {}
    for model in _data_models():
        count, _ = model._default_manager.filter(workspace=workspace).delete()
        deleted[model._meta.label] = count
    Workspace.objects.filter(pk=workspace.pk).update(next_customer_number=1)
    workspace.next_customer_number = 1
    transaction.on_commit(lambda: _caches_forget(workspace.pk, devices))
    return deleted


def _caches_forget(workspace_id: int, devices: list[str]) -> None:
    """The ingest's visit cache and the ladder counts of the erased rows."""
    visits_cache_forget(workspace_id, devices)
    cache.delete(f"clarm:ladder:{workspace_id}")


def demo_data_reset(*, workspace_id: int) -> DemoResult | None:
    """Erase the demo workspace's data and load the demo again (the task behind the reset button)."""
    workspace = Workspace.objects.filter(pk=workspace_id, is_demo=True).first()
    if workspace is None:
        return None
    key = write_key_current(workspace=workspace)
    if key is None:
        return None
    demo_data_erase(workspace=workspace)
    return demo_data_load(workspace=workspace, write_key=key.lookup)
