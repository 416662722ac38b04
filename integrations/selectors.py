"""Reads of integrations; the workspace is always a required argument."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, QuerySet
from django.urls import reverse

from integrations.models import Connection, DeliveryStatus, TrackedLink, WebhookDelivery
from integrations.providers import PROVIDERS, ProviderSpec
from workspaces.models import Workspace


@dataclass
class ProviderCard:
    spec: ProviderSpec
    connection: Connection | None
    webhook_url: str
    shown: dict[str, str]
    deliveries: list[WebhookDelivery]


def webhook_url(*, workspace: Workspace, provider: str) -> str:
    return settings.CLARM_PUBLIC_URL + reverse("integrations:hook", kwargs={"provider": provider, "ws": workspace.slug})


def connection_get(*, workspace: Workspace, provider: str) -> Connection | None:
    return Connection.objects.filter(workspace=workspace, provider=provider).first()


def deliveries_recent(
    *, workspace: Workspace, provider: str | None = None, limit: int = 10
) -> QuerySet[WebhookDelivery]:
    qs = WebhookDelivery.objects.filter(workspace=workspace).order_by("-received_at", "-id")
    if provider:
        qs = qs.filter(provider=provider)
    return qs[:limit]


@dataclass
class DeliveryLog:
    """The workspace's delivery log: the newest deliveries matching the filters, and the filters."""

    deliveries: list[WebhookDelivery]
    provider: str
    status: str
    counts: dict[str, int]


DELIVERY_LOG_LIMIT = 100


def deliveries_log(*, workspace: Workspace, provider: str = "", status: str = "") -> DeliveryLog:
    """The newest deliveries of this workspace (at most DELIVERY_LOG_LIMIT), by provider and status;
    an unknown filter value filters on nothing (it is ignored, not an error)."""
    provider = provider if provider in PROVIDERS else ""
    status = status if status in DeliveryStatus.values else ""
    qs = WebhookDelivery.objects.filter(workspace=workspace)
    if provider:
        qs = qs.filter(provider=provider)
    counts = {row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("id")).order_by()}
    if status:
        qs = qs.filter(status=status)
    rows = qs.defer("body", "headers").order_by("-received_at", "-id")[:DELIVERY_LOG_LIMIT]
    return DeliveryLog(deliveries=list(rows), provider=provider, status=status, counts=counts)


def provider_cards(*, workspace: Workspace, with_secrets: bool) -> list[ProviderCard]:
    connections = {c.provider: c for c in Connection.objects.filter(workspace=workspace)}
    cards = []
    for key, spec in PROVIDERS.items():
        connection = connections.get(key)
        shown: dict[str, str] = {}
        if connection is not None:
            creds = connection.credentials
            names = spec.shown if with_secrets else tuple(n for n in spec.shown if n != spec.generated_secret)
            shown = {n: str(creds.get(n, "")) for n in names if creds.get(n)}
        cards.append(
            ProviderCard(
                spec=spec,
                connection=connection,
                webhook_url=webhook_url(workspace=workspace, provider=key),
                shown=shown,
                deliveries=list(deliveries_recent(workspace=workspace, provider=key, limit=5)),
            )
        )
    return cards


def links_list(*, workspace: Workspace, limit: int = 50) -> QuerySet[TrackedLink]:
    return (
        TrackedLink.objects.filter(workspace=workspace, kind="link")
        .select_related("customer")
        .order_by("-created_at", "-id")[:limit]
    )


def link_public_url(link: TrackedLink) -> str:
    return settings.CLARM_PUBLIC_URL + reverse("integrations:link", kwargs={"code": link.code})
