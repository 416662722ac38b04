from django.urls import path

from integrations import views
from integrations.api import LinkCreateApi

app_name = "integrations"
urlpatterns = [
    path("w/<slug:ws>/integrations/", views.IntegrationsView.as_view(), name="list"),
    path("w/<slug:ws>/integrations/deliveries/", views.DeliveriesView.as_view(), name="deliveries"),
    path("w/<slug:ws>/integrations/<slug:provider>/connect/", views.ConnectionSaveView.as_view(), name="connect"),
    path("w/<slug:ws>/integrations/<slug:provider>/test/", views.ConnectionTestView.as_view(), name="test"),
    path(
        "w/<slug:ws>/integrations/<slug:provider>/disconnect/",
        views.ConnectionDisconnectView.as_view(),
        name="disconnect",
    ),
    path("w/<slug:ws>/links/", views.LinksView.as_view(), name="links"),
    path("hooks/<slug:provider>/<slug:ws>/", views.webhook_receive, name="hook"),
    path("l/<str:code>", views.link_redirect, name="link"),
    path("o/<str:code>.gif", views.pixel_image, name="pixel"),
    path("api/links", LinkCreateApi.as_view(), name="api_links"),
]
