from django.urls import path

from integrations import views
from integrations.api import LinkCreateApi
from integrations.destinations import api as destination_api
from integrations.destinations import views as destination_views

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
    path("api/destinations", destination_api.DestinationsApi.as_view(), name="api_destinations"),
    path("api/destinations/<str:pk>", destination_api.DestinationApi.as_view(), name="api_destination"),
    path(
        "api/destinations/<str:pk>/deliveries",
        destination_api.DeliveriesApi.as_view(),
        name="api_destination_deliveries",
    ),
    path("w/<slug:ws>/integrations/destinations/", destination_views.DestinationsView.as_view(), name="destinations"),
    path(
        "w/<slug:ws>/integrations/destinations/<int:pk>/",
        destination_views.DestinationView.as_view(),
        name="destination",
    ),
]
