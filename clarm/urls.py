from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from clarm.admin_login import RateLimitedAdminLoginForm

admin.site.login_form = RateLimitedAdminLoginForm
handler500 = "clarm.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("tracking.urls")),
    path("", include("identity.urls")),
    path("", include("identity.privacy.urls")),
    path("", include("integrations.urls")),
    path("", include("agents.urls")),
    path("", include("enrichment.urls")),
    path("", include("workspaces.urls")),
]
