"""System checks that keep an unsafe production start from happening (they run before `migrate`,
`runserver` and gunicorn's first request via `check`, and in `.ci/run`'s `check --deploy`)."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

# Backends that do not send mail: they print it (links with tokens end up in the log), keep it in
# memory, write it to files or drop it.
NOT_SENDING = (
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
)


@register()
def email_backend_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if not settings.CLARM_PRODUCTION or settings.EMAIL_BACKEND not in NOT_SENDING:
        return []
    return [
        Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}, which does not send mail: password-reset and "
            "invitation links would be printed to the log or lost.",
            hint="Set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST, EMAIL_HOST_USER "
            "and EMAIL_HOST_PASSWORD (SendGrid's SMTP relay: smtp.sendgrid.net, user apikey).",
            id="clarm.E001",
        )
    ]
