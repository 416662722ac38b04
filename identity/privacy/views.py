"""Privacy pages. Public ones (preferences, unsubscribe, request verification) work without
JavaScript, reveal nothing for a bad link, and refuse workspaces of another region before
anything is stored. Workspace ones go through `WorkspaceMixin`."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django.views.generic import TemplateView

from identity.models import (
    ConsentSource,
    Customer,
    DataSubjectRequest,
    DsrKind,
    DsrStatus,
    DsrVia,
    ExportJobFormat,
    ExportJobStatus,
)
from identity.privacy import selectors, services
from identity.privacy.emails import dsr_verification_send, preferences_link_send
from identity.privacy.erasure import subject_erase
from identity.privacy.export_requests import export_job_create
from identity.privacy.exports import subject_export_stream
from identity.privacy.forms import (
    CustomerOptOutForm,
    DsrCreateForm,
    ExportJobForm,
    PreferencesForm,
    SubjectRequestForm,
)
from identity.privacy.subjects import subject_get
from identity.privacy.tokens import (
    SubjectToken,
    TokenInvalid,
    dsr_verify_token_read,
    preferences_token_read,
    unsubscribe_token_read,
)
from tracking.normalize import claims_from_values
from workspaces.keys import key_authenticate
from workspaces.models import ApiKeyKind, Role, Workspace
from workspaces.roles import role_at_least
from workspaces.views_base import WorkspaceMixin
from workspaces.zones import workspace_zone

PURPOSE_LABELS = {"marketing_email": "marketing email", "marketing_sms": "marketing SMS and WhatsApp messages"}
# Self-serve requests per person and hour (each one sends an email).
DSR_REQUESTS_PER_HOUR = 5


# --- public helpers -------------------------------------------------------------------------------


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _problem(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "privacy/problem.html", {"title": title, "message": message}, status=status)


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return _problem(
        request,
        400,
        "This link is not valid",
        "The link is incomplete, was changed, or has expired. Use the most recent link you received, "
        "or ask the business that sent it for a new one.",
    )


def _not_found(request: HttpRequest) -> HttpResponse:
    return _problem(
        request, 404, "Nothing to show", "We could not find anything for this link. It may have been removed."
    )


def _residency_refusal(request: HttpRequest, workspace: Workspace) -> HttpResponse | None:
    """A workspace of another region is served by that region's deployment only."""
    if workspace.region == settings.CLARM_REGION:
        return None
    return _problem(
        request,
        421,
        "Served in another region",
        f"This business keeps its data in the “{workspace.region}” region, and this server serves the "
        f"“{settings.CLARM_REGION}” region. Nothing was recorded here. Use the link the business gave you.",
    )


@dataclass(frozen=True)
class _LinkSubject:
    """Whom a customer link (preferences, unsubscribe) is about."""

    token: SubjectToken
    workspace: Workspace
    customer: Customer | None  # None once erased (or never there)


def _subject_from_token(
    request: HttpRequest, token: str, read: Callable[[str], SubjectToken]
) -> _LinkSubject | HttpResponse:
    """The link's workspace and customer, or the page to answer with: a bad link, a workspace that is
    gone, or one of another region."""
    try:
        data = read(token)
    except TokenInvalid:
        return _invalid_link(request)
    workspace = Workspace.objects.filter(pk=data.workspace_id).first()
    if workspace is None:
        return _not_found(request)
    refusal = _residency_refusal(request, workspace)
    if refusal is not None:
        return refusal
    customer = Customer.objects.filter(workspace=workspace, pk=data.customer_id).first()
    return _LinkSubject(token=data, workspace=workspace, customer=customer)


def _dsr_throttled(key: str) -> bool:
    cache_key = f"clarm:privacy:dsr:{key}"
    count = 1 if cache.add(cache_key, 1, timeout=3600) else cache.incr(cache_key)
    return count > DSR_REQUESTS_PER_HOUR


# --- preferences ----------------------------------------------------------------------------------


def _preferences_handle(
    request: HttpRequest,
    *,
    workspace: Workspace,
    customer: Customer | None,
    device_hash: str | None,
    action_url: str,
    device_only: bool = False,
) -> HttpResponse:
    """`device_only`: the page was opened with the site's public key and a visitor id. That proves the
    device, not the person (anyone can `identify` a device with someone else's email), so the page
    shows only what came from the device, may only restrict (an opt-out is always honoured), and
    sends the person's own link to the email on record for anything more."""
    ask_email_for = ""
    request_form = SubjectRequestForm()
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "send_link" and device_only:
            if customer is not None and customer.email and not _dsr_throttled(f"link:{customer.pk}"):
                preferences_link_send(customer=customer)
            messages.success(request, "If we have an email address on record for you, we sent it your personal link.")
            return redirect(action_url)
        if action in ("save", "optout_all"):
            form = PreferencesForm(request.POST)
            form.is_valid()
            changes = services.opt_out_everything() if action == "optout_all" else form.changes()
            if customer is not None and device_only:
                off = {p for p, (allow, _) in services.PURPOSE_FIELDS.items() if not getattr(customer, allow)}
                if any(allowed and purpose in off for purpose, allowed in changes.items()):
                    messages.info(request, "To turn something back on, use your personal link: we can email it to you.")
                changes = {purpose: allowed for purpose, allowed in changes.items() if not allowed}
            if customer is not None:
                services.preferences_update(
                    workspace=workspace, customer=customer, changes=changes, source=ConsentSource.PREFERENCES
                )
            elif device_hash:
                services.device_preferences_update(
                    workspace=workspace, device_hash=device_hash, changes=changes, source=ConsentSource.PREFERENCES
                )
            messages.success(
                request,
                "You are opted out of everything." if action == "optout_all" else "Your preferences are saved.",
            )
            return redirect(action_url)
        if action == "request":
            request_form = SubjectRequestForm(request.POST)
            if not request_form.is_valid():
                kind = request.POST.get("kind", "")
                ask = kind if kind in DsrKind.values and "email" in request_form.errors else ""
                return _preferences_render(
                    request, workspace, customer, device_hash, action_url, request_form, ask, 400
                )
            if customer is None:
                messages.info(request, "Nothing is recorded about this device, so there is nothing to export or erase.")
                return redirect(action_url)
            kind = request_form.cleaned_data["kind"]
            subject = subject_get(workspace=workspace, customer=customer)
            send_to = subject.customer.email
            typed = request_form.cleaned_data.get("email") or ""
            if not send_to and not typed:
                ask_email_for = kind
                return _preferences_render(request, workspace, customer, device_hash, action_url, request_form, kind)
            if not send_to:
                # Only ever send to an address that is the customer's own: the typed address must hash to
                # one of their email identifiers. The answer is the same either way (no address oracle).
                claims = claims_from_values(workspace, email=typed).claims
                if claims and subject.has_email_hash(claims[0].value_hash):
                    send_to = claims[0].plain
            if _dsr_throttled(subject.ref):
                return _problem(
                    request, 429, "Too many requests", "Please wait an hour before asking again; check your inbox."
                )
            if send_to:
                with transaction.atomic():
                    dsr = services.dsr_create(workspace=workspace, customer=customer, kind=kind, via=DsrVia.PREFERENCES)
                    dsr_verification_send(request=dsr, email=send_to)
            messages.success(
                request,
                "If that address is on record for you, we sent it a link to confirm your request."
                if typed and not subject.customer.email
                else "We sent a link to your email address on record. Open it to confirm your request.",
            )
            return redirect(action_url)
        return _problem(request, 400, "Unknown action", "The form sent an action this page does not know.")
    return _preferences_render(
        request, workspace, customer, device_hash, action_url, request_form, ask_email_for, device_only=device_only
    )


def _preferences_render(
    request: HttpRequest,
    workspace: Workspace,
    customer: Customer | None,
    device_hash: str | None,
    action_url: str,
    request_form: SubjectRequestForm,
    ask_email_for: str,
    status: int = 200,
    *,
    device_only: bool = False,
) -> HttpResponse:
    summary = selectors.subject_summary(workspace=workspace, customer=customer) if customer else None
    if summary is not None:
        prefs = summary.preferences
    else:
        prefs = services.device_preferences_get(workspace=workspace, device_hash=device_hash or "")
    device = None
    if device_only:
        device = selectors.device_summary(workspace=workspace, device_hash=device_hash or "")
        summary = None
    form = PreferencesForm(initial=prefs)
    with timezone.override(workspace_zone(workspace.timezone)):  # the business's zone, as on its pages
        return render(
            request,
            "privacy/preferences.html",
            {
                "workspace": workspace,
                "summary": summary,
                "form": form,
                "prefs": prefs,
                "action_url": action_url,
                "request_form": request_form,
                "ask_email_for": ask_email_for,
                "email_on_record": bool(summary and summary.subject.customer.email),
                "all_off": not any(prefs.values()),
                "device": device,
                "known_person": device_only and customer is not None,
            },
            status=status,
        )


@require_http_methods(["GET", "POST"])
def preferences_by_device(request: HttpRequest) -> HttpResponse:
    """`/privacy/preferences?key=<write key>&vid=<visitor id>`: the visitor's own device. Without `vid`
    (the banner's link before any choice, or after a refusal: the browser has no visitor id) it says
    that nothing is linked to this browser and where choices are made."""
    key = request.GET.get("key", "")
    vid = request.GET.get("vid", "")
    if not key:
        return _problem(request, 400, "This link is incomplete", "The link needs the site's key (key).")
    api_key = key_authenticate(kind=ApiKeyKind.WRITE, plain=key)
    if api_key is None:
        return _not_found(request)
    workspace = api_key.workspace
    refusal = _residency_refusal(request, workspace)
    if refusal is not None:
        return refusal
    if not vid:
        return render(request, "privacy/preferences_no_device.html", {"workspace": workspace})
    device_hash, customer = selectors.customer_by_device(workspace=workspace, visitor_id=vid)
    if device_hash is None:
        return _problem(request, 400, "This link is not valid", "The visitor id in the link is not a valid id.")
    action_url = f"{reverse('privacy:preferences')}?{urlencode({'key': key, 'vid': vid})}"
    return _preferences_handle(
        request,
        workspace=workspace,
        customer=customer,
        device_hash=device_hash,
        action_url=action_url,
        device_only=True,
    )


@require_http_methods(["GET", "POST"])
def preferences_by_token(request: HttpRequest, token: str) -> HttpResponse:
    """`/privacy/preferences/<token>`: a customer arriving from an email or SMS link."""
    found = _subject_from_token(request, token, preferences_token_read)
    if isinstance(found, HttpResponse):
        return found
    if found.customer is None:
        return _not_found(request)
    action_url = reverse("privacy:preferences_token", kwargs={"token": token})
    return _preferences_handle(
        request, workspace=found.workspace, customer=found.customer, device_hash=None, action_url=action_url
    )


# --- one-click unsubscribe ------------------------------------------------------------------------


@csrf_exempt  # RFC 8058: mail clients POST without a cookie; the signed, purpose-bound token is the check.
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation button and never changes anything; POST unsubscribes (idempotent)."""
    found = _subject_from_token(request, token, unsubscribe_token_read)
    if isinstance(found, HttpResponse):
        return found
    workspace, customer, purpose = found.workspace, found.customer, found.token.purpose
    context: dict[str, Any] = {"workspace": workspace, "purpose_label": PURPOSE_LABELS[purpose], "token": token}
    if customer is None:
        # Erased (or never there): nothing to send to, so nothing to do. Same answer for GET and POST.
        return render(request, "privacy/unsubscribe_done.html", {**context, "nothing_on_record": True})
    if request.method == "GET":
        return render(request, "privacy/unsubscribe.html", context)
    services.preferences_update(
        workspace=workspace, customer=customer, changes={purpose: False}, source=ConsentSource.UNSUBSCRIBE
    )
    return render(request, "privacy/unsubscribe_done.html", context)


# --- verification of self-serve requests ----------------------------------------------------------


def _dsr_from_token(request: HttpRequest, token: str) -> DataSubjectRequest | HttpResponse:
    try:
        data = dsr_verify_token_read(token)
    except TokenInvalid:
        return _invalid_link(request)
    dsr = (
        DataSubjectRequest.objects.select_related("workspace", "customer")
        .filter(pk=data.request_id, workspace_id=data.workspace_id)
        .first()
    )
    if dsr is None or dsr.status == DsrStatus.REJECTED:
        return _not_found(request)
    refusal = _residency_refusal(request, dsr.workspace)
    return refusal if refusal is not None else dsr


@require_http_methods(["GET", "POST"])
def dsr_verify(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the verification email. Opening it verifies the request; an export can then be
    downloaded, an erasure needs one more press of a button (a POST)."""
    found = _dsr_from_token(request, token)
    if isinstance(found, HttpResponse):
        return found
    dsr = found
    if dsr.status == DsrStatus.COMPLETED and dsr.kind == DsrKind.ERASURE:
        return render(request, "privacy/dsr_done.html", {"workspace": dsr.workspace, "dsr": dsr})
    if dsr.customer is None:
        return _not_found(request)
    dsr = services.dsr_verify(workspace=dsr.workspace, request=dsr)
    if request.method == "POST":
        if dsr.kind != DsrKind.ERASURE:
            return _problem(request, 400, "Nothing to confirm", "This request is an export: use the download links.")
        assert dsr.customer is not None
        subject_erase(workspace=dsr.workspace, customer=dsr.customer, request=dsr)
        dsr.refresh_from_db()
        return render(request, "privacy/dsr_done.html", {"workspace": dsr.workspace, "dsr": dsr})
    context = {"workspace": dsr.workspace, "dsr": dsr, "token": token, "download_open": services.dsr_download_open(dsr)}
    return render(request, "privacy/dsr_verify.html", context)


def _export_response(
    *, subject_stream: Iterator[bytes], filename: str, on_done: Callable[[], None]
) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        yield from subject_stream
        on_done()

    response = StreamingHttpResponse(body(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["POST"])
def dsr_download(request: HttpRequest, token: str, fmt: str) -> HttpResponseBase:
    """The self-serve export: a button (POST, so a mail scanner following links takes nothing) on the
    page the emailed link opens. One download, within `DSR_DOWNLOAD_WINDOW` of the email check."""
    found = _dsr_from_token(request, token)
    if isinstance(found, HttpResponse):
        return found
    dsr = found
    if dsr.kind != DsrKind.EXPORT or dsr.customer is None or fmt not in ExportJobFormat.values:
        return _not_found(request)
    if dsr.status == DsrStatus.REQUESTED:
        return _problem(request, 400, "Confirm your request first", "Open the link in the email we sent you.")
    if not services.dsr_download_claim(workspace=dsr.workspace, request=dsr):
        return _problem(
            request,
            410,
            "This download is no longer available",
            "Each export can be downloaded once, within 24 hours of confirming it. "
            "Ask for a new one on your preferences page.",
        )
    subject = subject_get(workspace=dsr.workspace, customer=dsr.customer)
    return _export_response(
        subject_stream=subject_export_stream(subject, fmt),
        filename=f"my-data-{dsr.pk}-{fmt}.zip",
        on_done=lambda: services.dsr_export_mark(workspace=dsr.workspace, request=dsr, done=True),
    )


# --- workspace pages ------------------------------------------------------------------------------


class WorkspacePrivacyView(WorkspaceMixin, TemplateView):
    """`w/<ws>/privacy/`: consent mode, data-subject requests, exports, retention. Members read;
    owners and admins act."""

    template_name = "identity/privacy.html"
    extra_context = {"nav": "privacy"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        ws = self.workspace
        query = self.request.GET.get("q", "").strip()[:200]
        found = selectors.customer_lookup(workspace=ws, query=query) if query else None
        jobs = list(selectors.export_jobs_list(workspace=ws))
        context.update(
            {
                "can_manage": role_at_least(self.membership, Role.ADMIN),
                "consent_mode": ws.get_consent_mode_display(),
                "consent_counts": selectors.consent_summary(workspace=ws),
                "query": query,
                "found": selectors.subject_summary(workspace=ws, customer=found) if found else None,
                "requests": selectors.dsr_list(workspace=ws)[:50],
                "jobs": jobs,
                "jobs_running": any(j.status in (ExportJobStatus.QUEUED, ExportJobStatus.RUNNING) for j in jobs),
                "last_purge": selectors.retention_last_run(workspace=ws),
                "retention_cutoff_months": ws.retention_months,
                "consent_proof_months": settings.CLARM_CONSENT_PROOF_MONTHS,
            }
        )
        return context


class _AdminAction(WorkspaceMixin, View):
    min_role = Role.ADMIN
    http_method_names = ["post"]

    def back(self) -> HttpResponse:
        return redirect("identity:privacy", ws=self.workspace.slug)

    def form_errors(self, form: Any) -> HttpResponse:
        for errors in form.errors.values():
            for error in errors:
                messages.error(self.request, error)
        return self.back()


class DsrCreateView(_AdminAction):
    """One click: export (then download) or erasure (done at once) of one customer."""

    def post(self, request: HttpRequest, ws: str) -> HttpResponse:
        form = DsrCreateForm(request.POST)
        if not form.is_valid():
            return self.form_errors(form)
        customer = selectors.customer_get(workspace=self.workspace, customer_id=form.cleaned_data["customer_id"])
        kind = form.cleaned_data["kind"]
        with transaction.atomic():
            dsr = services.dsr_create(
                workspace=self.workspace, customer=customer, kind=kind, via=DsrVia.WORKSPACE, actor=_actor(request)
            )
            if kind == DsrKind.ERASURE:
                subject_erase(workspace=self.workspace, customer=customer, request=dsr, actor=_actor(request))
        if kind == DsrKind.ERASURE:
            messages.success(request, f"Request {dsr.pk}: everything about that person was erased.")
        else:
            messages.success(request, f"Request {dsr.pk}: the export is ready to download below.")
        return self.back()


class DsrDownloadView(WorkspaceMixin, View):
    min_role = Role.ADMIN
    http_method_names = ["get"]

    def get(self, request: HttpRequest, ws: str, request_id: int, fmt: str) -> HttpResponseBase:
        dsr = selectors.dsr_get(workspace=self.workspace, request_id=request_id)
        if dsr.kind != DsrKind.EXPORT or dsr.customer is None or fmt not in ExportJobFormat.values:
            return _not_found(request)
        if dsr.status == DsrStatus.REQUESTED:
            dsr = services.dsr_verify(workspace=self.workspace, request=dsr)
        assert dsr.customer is not None
        subject = subject_get(workspace=self.workspace, customer=dsr.customer)
        services.dsr_export_mark(workspace=self.workspace, request=dsr, done=False, actor=_actor(request))
        user = _actor(request)
        return _export_response(
            subject_stream=subject_export_stream(subject, fmt),
            filename=f"clarm-subject-{dsr.pk}-{fmt}.zip",
            on_done=lambda: services.dsr_export_mark(workspace=self.workspace, request=dsr, done=True, actor=user),
        )


class CustomerOptOutView(_AdminAction):
    """The workspace records a person's request to opt out of everything (e.g. said on the phone)."""

    def post(self, request: HttpRequest, ws: str) -> HttpResponse:
        form = CustomerOptOutForm(request.POST)
        if not form.is_valid():
            return self.form_errors(form)
        customer = selectors.customer_get(workspace=self.workspace, customer_id=form.cleaned_data["customer_id"])
        services.preferences_update(
            workspace=self.workspace,
            customer=customer,
            changes=services.opt_out_everything(),
            source=ConsentSource.WORKSPACE,
            actor=_actor(request),
        )
        messages.success(request, "That person is opted out of tracking, marketing and ad send-back.")
        return self.back()


class ExportJobCreateView(_AdminAction):
    def post(self, request: HttpRequest, ws: str) -> HttpResponse:
        form = ExportJobForm(request.POST)
        if not form.is_valid():
            return self.form_errors(form)
        job = export_job_create(workspace=self.workspace, fmt=form.cleaned_data["format"], actor=_actor(request))
        messages.success(request, f"Export {job.pk} started. This page shows its progress.")
        return self.back()


class ExportJobDownloadView(WorkspaceMixin, View):
    min_role = Role.ADMIN
    http_method_names = ["get"]

    def get(self, request: HttpRequest, ws: str, job_id: int) -> HttpResponseBase:
        job = selectors.export_job_get(workspace=self.workspace, job_id=job_id)
        if job.status != ExportJobStatus.DONE or not job.file_name or not default_storage.exists(job.file_name):
            return _not_found(request)
        return FileResponse(
            default_storage.open(job.file_name, "rb"),
            as_attachment=True,
            filename=f"clarm-{self.workspace.slug}-export-{job.pk}-{job.format}.zip",
            content_type="application/zip",
        )
