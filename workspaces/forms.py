"""Forms of the workspace pages: they parse and validate input; services do the writes."""

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from workspaces.models import ConsentMode, Role, Workspace
from workspaces.validation import (
    RETENTION_MAX_MONTHS,
    RETENTION_MIN_MONTHS,
    TIMEZONES,
    country_validate,
    emails_parse,
    origins_parse,
    region_validate,
    timezone_validate,
)

TIMEZONE_CHOICES = [(tz, tz.replace("_", " ")) for tz in TIMEZONES]


class CountryField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2)
        kwargs.setdefault("min_length", 2)
        kwargs.setdefault(
            "help_text",
            "Two-letter ISO 3166 code (US, GB, DE…): phone numbers without a +prefix are read as this country's.",
        )
        super().__init__(**kwargs)
        self.widget.attrs.update({"size": 3, "autocomplete": "off", "style": "text-transform:uppercase"})

    def clean(self, value: Any) -> str:
        return country_validate(super().clean(value))


class TimezoneField(forms.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", TIMEZONE_CHOICES)
        kwargs.setdefault("label", "Time zone")
        kwargs.setdefault("help_text", "Reports and the Friday summary follow this time zone.")
        super().__init__(**kwargs)

    def validate(self, value: Any) -> None:
        # A clearer message than "Select a valid choice".
        timezone_validate(value)


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Your business, as your team knows it.")
    timezone = TimezoneField(initial="UTC")
    default_country = CountryField(initial="US")
    region = forms.ChoiceField(
        choices=[],
        help_text="Where this workspace's data is stored. It cannot be changed later.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        region_field = self.fields["region"]
        assert isinstance(region_field, forms.ChoiceField)
        region_field.choices = [(r, r.upper()) for r in settings.CLARM_REGIONS]
        region_field.initial = settings.CLARM_REGION

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("A workspace needs a name.")
        return name

    def clean_region(self) -> str:
        return region_validate(self.cleaned_data["region"])


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(max_length=120)
    timezone = TimezoneField()
    default_country = CountryField()
    retention_months = forms.IntegerField(
        min_value=RETENTION_MIN_MONTHS,
        max_value=RETENTION_MAX_MONTHS,
        help_text=(
            "Events, messages and logs older than this are deleted every night, and so is anyone with "
            f"nothing newer ({RETENTION_MIN_MONTHS}–{RETENTION_MAX_MONTHS})."
        ),
        error_messages={
            "min_value": f"Retention must be between {RETENTION_MIN_MONTHS} and {RETENTION_MAX_MONTHS} months.",
            "max_value": f"Retention must be between {RETENTION_MIN_MONTHS} and {RETENTION_MAX_MONTHS} months.",
            "invalid": "Retention must be a whole number of months.",
        },
    )
    consent_mode = forms.ChoiceField(
        choices=ConsentMode.choices, help_text="When the snippet asks visitors for consent before tracking."
    )
    summary_recipients = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Who gets the Friday summary: email addresses separated by commas or new lines.",
    )
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://shop.example"}),
        help_text="Sites allowed to send events with the write key, one per line (like https://shop.example). "
        "Empty allows any site.",
    )

    @classmethod
    def initial_for(cls, workspace: Workspace) -> dict[str, Any]:
        return {
            "name": workspace.name,
            "timezone": workspace.timezone,
            "default_country": workspace.default_country,
            "retention_months": workspace.retention_months,
            "consent_mode": workspace.consent_mode,
            "summary_recipients": "\n".join(workspace.summary_recipients),
            "allowed_origins": "\n".join(workspace.allowed_origins),
        }

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("A workspace needs a name.")
        return name

    def clean_summary_recipients(self) -> list[str]:
        return emails_parse(self.cleaned_data["summary_recipients"])

    def clean_allowed_origins(self) -> list[str]:
        return origins_parse(self.cleaned_data["allowed_origins"])


class InviteForm(forms.Form):
    email = forms.EmailField(error_messages={"invalid": "Enter a valid email address, like alex@example.com."})
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: Any, grantable: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every role validates (so granting owner without the right is a clear 403 from the service);
        # the menu offers only the roles this person may grant.
        self.fields["role"].widget.choices = grantable

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
