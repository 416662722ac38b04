"""Reads of destinations, always scoped by workspace ("not yours" and "not there" are the same)."""

from django.db.models import QuerySet

from integrations.destinations.models import Destination, DestinationDelivery
from workspaces.models import Workspace


def destinations_list(*, workspace: Workspace) -> QuerySet[Destination]:
    return Destination.objects.filter(workspace=workspace).order_by("created_at", "id")


def destination_get(*, workspace: Workspace, pk: int) -> Destination | None:
    return Destination.objects.filter(workspace=workspace, pk=pk).select_related("workspace").first()


def deliveries_page(
    *,
    workspace: Workspace,
    destination: Destination,
    status: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[DestinationDelivery], int | None]:
    """Newest first; returns (rows, the cursor for the next page or None)."""
    rows = DestinationDelivery.objects.filter(workspace=workspace, destination=destination)
    if status:
        rows = rows.filter(status=status)
    if kind:
        rows = rows.filter(kind=kind)
    if before_id:
        rows = rows.filter(pk__lt=before_id)
    page = list(rows.order_by("-id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (page[-1].pk if more and page else None)


def delivery_get(*, workspace: Workspace, destination: Destination, pk: int) -> DestinationDelivery | None:
    return DestinationDelivery.objects.filter(workspace=workspace, destination=destination, pk=pk).first()
