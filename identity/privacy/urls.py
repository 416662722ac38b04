from django.urls import path

from identity.privacy import views

app_name = "privacy"
urlpatterns = [
    path("privacy/preferences", views.preferences_by_device, name="preferences"),
    path("privacy/preferences/<str:token>", views.preferences_by_token, name="preferences_token"),
    path("u/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("privacy/requests/<str:token>", views.dsr_verify, name="dsr_verify"),
    path("privacy/requests/<str:token>/download/<str:fmt>", views.dsr_download, name="dsr_download"),
    path("w/<slug:ws>/privacy/requests/", views.DsrCreateView.as_view(), name="dsr_create"),
    path(
        "w/<slug:ws>/privacy/requests/<int:request_id>/download/<str:fmt>/",
        views.DsrDownloadView.as_view(),
        name="dsr_workspace_download",
    ),
    path("w/<slug:ws>/privacy/opt-out/", views.CustomerOptOutView.as_view(), name="customer_opt_out"),
    path("w/<slug:ws>/privacy/exports/", views.ExportJobCreateView.as_view(), name="export_create"),
    path(
        "w/<slug:ws>/privacy/exports/<int:job_id>/download/",
        views.ExportJobDownloadView.as_view(),
        name="export_download",
    ),
]
