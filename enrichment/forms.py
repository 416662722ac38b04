"""The owner's enrichment settings (Settings → Enrichment)."""

from typing import Any

from django import forms

from enrichment.models import CompanyProvider, EnrichmentSettings
from enrichment.scoring import BadWeights, page_weights_validate
from enrichment.selectors import page_weights_in_force

PERSON_CHOICES = (("default", "Region default"), ("on", "On"), ("off", "Off"))


class EnrichmentSettingsForm(forms.Form):
    provider = forms.ChoiceField(label="Company provider", choices=CompanyProvider.choices)
    api_key = forms.CharField(
        label="Provider key (your own)",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="ipinfo token, People Data Labs, Snitcher or Dealfront key. Leave empty to keep the stored key.",
    )
    remove_api_key = forms.BooleanField(label="Remove the stored provider key", required=False)
    person_api_key = forms.CharField(
        label="People Data Labs key for person fields",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Name, title and LinkedIn of people who gave their email. Leave empty to keep the stored key.",
    )
    person_enrichment = forms.ChoiceField(
        label="Person enrichment",
        choices=PERSON_CHOICES,
        help_text="Region default: off in the EU and UK regions, on elsewhere once a key is set.",
    )
    page_weights = forms.CharField(
        label="Intent page weights",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="One per line: label | URL path pattern (regular expression) | points 0-50, "
        'e.g. "pricing | pricing|plans | 8".',
    )

    @staticmethod
    def initial_for(config: EnrichmentSettings | None) -> dict[str, Any]:
        person = (
            "default"
            if config is None or config.person_enrichment is None
            else ("on" if config.person_enrichment else "off")
        )
        weights = page_weights_in_force(config)
        return {
            "provider": config.provider if config is not None else CompanyProvider.OFFLINE,
            "person_enrichment": person,
            "page_weights": "\n".join(f"{w['label']} | {w['pattern']} | {w['points']:g}" for w in weights),
        }

    def clean_page_weights(self) -> list[dict[str, Any]]:
        rows = []
        for n, line in enumerate(self.cleaned_data["page_weights"].splitlines(), start=1):
            if not line.strip():
                continue
            label, sep, rest = line.partition("|")
            pattern, sep2, points = rest.rpartition("|")
            if not sep or not sep2:
                raise forms.ValidationError(f"Line {n}: write label | pattern | points.")
            rows.append({"label": label.strip(), "pattern": pattern.strip(), "points": points.strip()})
        try:
            return page_weights_validate(rows)
        except BadWeights as exc:
            raise forms.ValidationError(str(exc)) from None

    def person_choice(self) -> bool | None:
        return {"default": None, "on": True, "off": False}[self.cleaned_data["person_enrichment"]]
