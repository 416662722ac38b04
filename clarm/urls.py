from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from clarm.admin_login import RateLimitedAdminLoginForm
from clarm.demo.views import DemoResetView
from clarm.status import StatusApi, metrics

admin.site.login_form = RateLimitedAdminLoginForm
handler500 = "clarm.errors.server_error"


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Resolved per request, not at import: the manifest of collected static files may not exist yet
    # when the URL conf loads (`check --deploy` before `collectstatic`).
    return HttpResponsePermanentRedirect(static("favicon.ico"))


urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page says; the file is served with the static files.
    path("favicon.ico", favicon),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Redoc needs a CDN script the CSP blocks: the human-readable reference is Clarm's own page.
    path("api/docs/", RedirectView.as_view(pattern_name="identity:api_reference"), name="api-docs"),
    path("api/status", StatusApi.as_view(), name="api-status"),
    path("metrics", metrics, name="metrics"),
    path("w/<slug:ws>/settings/demo/reset/", DemoResetView.as_view(), name="demo-reset"),
    path("", include("tracking.urls")),
    path("", include("identity.urls")),
    path("", include("identity.privacy.urls")),
    path("", include("integrations.urls")),
    path("", include("agents.urls")),
    path("", include("enrichment.urls")),
    path("", include("workspaces.urls")),
]
