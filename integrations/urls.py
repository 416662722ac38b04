from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("w/<slug:ws>/integrations/", views.IntegrationsView.as_view(), name="list"),
]
