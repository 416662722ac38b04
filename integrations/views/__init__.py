from integrations.views.hooks import webhook_receive
from integrations.views.links import link_redirect, pixel_image
from integrations.views.pages import (
    ConnectionDisconnectView,
    ConnectionSaveView,
    ConnectionTestView,
    DeliveriesView,
    IntegrationsView,
    LinksView,
)

__all__ = [
    "ConnectionDisconnectView",
    "ConnectionSaveView",
    "ConnectionTestView",
    "DeliveriesView",
    "IntegrationsView",
    "LinksView",
    "link_redirect",
    "pixel_image",
    "webhook_receive",
]
