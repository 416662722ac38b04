from django.urls import path

from enrichment import views

app_name = "enrichment"
urlpatterns = [
    path("w/<slug:ws>/visitors/", views.VisitorsView.as_view(), name="visitors"),
    path("w/<slug:ws>/settings/enrichment/", views.EnrichmentSettingsView.as_view(), name="settings"),
    path("api/visitors", views.VisitorsApi.as_view(), name="api_visitors"),
]
