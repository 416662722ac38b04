from django import forms

from integrations.models import LinkChannel


class LinkForm(forms.Form):
    target_url = forms.URLField(max_length=2000, assume_scheme="https", label="Target URL")
    label = forms.CharField(max_length=120, required=False)
    channel = forms.ChoiceField(choices=LinkChannel.choices, initial=LinkChannel.OTHER)
    customer_id = forms.IntegerField(required=False, min_value=1, label="Customer id (optional)")
    utm_source = forms.CharField(max_length=100, required=False)
    utm_medium = forms.CharField(max_length=100, required=False)
    utm_campaign = forms.CharField(max_length=100, required=False)
