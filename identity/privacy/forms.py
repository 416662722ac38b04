"""Plain HTML forms (the public pages work without JavaScript)."""

from django import forms

from identity.models import DsrKind, ExportJobFormat
from identity.privacy.services import PREFERENCE_TEXTS, PURPOSES


class PreferencesForm(forms.Form):
    analytics = forms.BooleanField(required=False, label=PREFERENCE_TEXTS["analytics"])
    marketing_email = forms.BooleanField(required=False, label=PREFERENCE_TEXTS["marketing_email"])
    marketing_sms = forms.BooleanField(required=False, label=PREFERENCE_TEXTS["marketing_sms"])
    ad_sendback = forms.BooleanField(required=False, label=PREFERENCE_TEXTS["ad_sendback"])

    def changes(self) -> dict[str, bool]:
        return {p: bool(self.cleaned_data.get(p)) for p in PURPOSES}


class SubjectRequestForm(forms.Form):
    """From the preferences page: export or erasure; `email` only when we hold no address to use."""

    kind = forms.ChoiceField(choices=DsrKind.choices)
    email = forms.EmailField(required=False, max_length=254, label="Your email address")


class DsrCreateForm(forms.Form):
    customer_id = forms.IntegerField(min_value=1)
    kind = forms.ChoiceField(choices=DsrKind.choices)
    confirm = forms.BooleanField(required=False)

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("kind") == DsrKind.ERASURE and not data.get("confirm"):
            raise forms.ValidationError("Tick the box to confirm the erasure: it cannot be undone.")
        return data


class ExportJobForm(forms.Form):
    format = forms.ChoiceField(choices=ExportJobFormat.choices)


class CustomerOptOutForm(forms.Form):
    customer_id = forms.IntegerField(min_value=1)
