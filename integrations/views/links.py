"""Public endpoints of tracked links (`/l/<code>`) and open pixels (`/o/<code>.gif`).

Only the stored target is ever redirected to (nothing from the query string), and an unknown or
altered code is a bare 404 that says nothing about what exists. A browser sending GPC or DNT gets
the target (or the image) and nothing about the click or open is recorded, as on every ingest path
(tracking.views.privacy_signal)."""

import base64
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from integrations.links import link_by_code, link_click_record, link_destination, pixel_open_record
from integrations.models import LinkKind
from tracking.views import privacy_signal

logger = logging.getLogger(__name__)

GIF_1X1 = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _not_found() -> HttpResponse:
    return HttpResponseNotFound("Not found", content_type="text/plain")


@never_cache
@require_GET
def link_redirect(request: HttpRequest, code: str) -> HttpResponse:
    link = link_by_code(code=code, kind=LinkKind.LINK)
    if link is None or not link.target_url:
        return _not_found()
    try:
        if not privacy_signal(request):
            link_click_record(link=link, visitor_id=request.COOKIES.get("clarm_vid"))
    except Exception:
        # The person must reach the page even if recording the click fails.
        logger.exception("recording a click on link %s failed", link.pk)
    response = HttpResponseRedirect(link_destination(link))
    response["Referrer-Policy"] = "no-referrer-when-downgrade"
    return response


@never_cache
@require_GET
def pixel_image(request: HttpRequest, code: str) -> HttpResponse:
    pixel = link_by_code(code=code, kind=LinkKind.PIXEL)
    if pixel is None:
        return _not_found()
    try:
        if not privacy_signal(request):
            pixel_open_record(pixel=pixel)
    except Exception:
        logger.exception("recording an open of pixel %s failed", pixel.pk)
    return HttpResponse(GIF_1X1, content_type="image/gif")
