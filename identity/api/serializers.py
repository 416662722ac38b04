"""Output shapes of the read API (input is a handful of query parameters, validated in the views)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from identity.models import Customer
from identity.timeline import RUNG_NAMES, event_text
from tracking.models import Event


class IdentifierOut(serializers.Serializer):
    kind = serializers.CharField(help_text="device, email, phone, user_id or external")
    masked = serializers.CharField(help_text="A hint such as j***@acme.com; never the value")


class ConsentOut(serializers.Serializer):
    analytics = serializers.BooleanField(source="allow_analytics")
    marketing_email = serializers.BooleanField(source="allow_marketing_email")
    marketing_sms = serializers.BooleanField(source="allow_marketing_sms")
    ad_sendback = serializers.BooleanField(source="allow_ad_sendback")


COMPANY_FIELDS = ("name", "domain", "industry", "size", "revenue_range", "location", "enterprise_score")


class CompanyOut(serializers.Serializer):
    name = serializers.CharField()
    domain = serializers.CharField(allow_null=True)
    industry = serializers.CharField(allow_null=True)
    size = serializers.CharField(allow_null=True, help_text="Employees band, e.g. 51-200")
    revenue_range = serializers.CharField(allow_null=True, help_text="e.g. $10M-$25M")
    location = serializers.CharField(allow_null=True)
    enterprise_score = serializers.IntegerField(allow_null=True, help_text="0-100, see docs/enrichment.md")
    source = serializers.CharField(help_text="offline (ASN data), ipinfo, pdl, or identify (they said so)")  # type: ignore[assignment]
    updated_at = serializers.DateTimeField(allow_null=True)


def company_of(customer: Customer) -> dict[str, Any] | None:
    """The company of the network the person visits from (enrichment), else the one they told us
    (identify's `company` trait), else None."""
    profile = customer.company_profile or {}
    if profile.get("name"):
        out = {key: profile.get(key) for key in COMPANY_FIELDS}
        out.update(source=profile.get("source") or "offline", updated_at=profile.get("updated_at"))
        return out
    if customer.company:
        return {**dict.fromkeys(COMPANY_FIELDS), "name": customer.company, "source": "identify", "updated_at": None}
    return None


class CustomerOut(serializers.Serializer):
    id = serializers.IntegerField()
    rung = serializers.IntegerField(help_text="0 device, 1 visitor, 2 email, 3 phone, 4 account")
    rung_name = serializers.SerializerMethodField()
    customer_number = serializers.IntegerField(allow_null=True, help_text="Given on reaching rung 4; else null")
    name = serializers.CharField()
    company = serializers.SerializerMethodField()
    intent_score = serializers.IntegerField(allow_null=True, help_text="0-100 as of the latest event; null: none yet")
    email = serializers.CharField()
    phone = serializers.CharField(help_text="E.164")
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    identifiers = serializers.SerializerMethodField()
    consent = serializers.SerializerMethodField()

    @extend_schema_field(CompanyOut(allow_null=True))
    def get_company(self, obj: Customer) -> dict[str, Any] | None:
        return company_of(obj)

    def get_rung_name(self, obj: Customer) -> str:
        return RUNG_NAMES.get(obj.rung, "")

    @extend_schema_field(IdentifierOut(many=True))
    def get_identifiers(self, obj: Customer) -> list[dict[str, Any]]:
        return [{"kind": i.kind, "masked": i.masked} for i in obj.identifiers.all()]

    @extend_schema_field(ConsentOut)
    def get_consent(self, obj: Customer) -> dict[str, Any]:
        return dict(ConsentOut(obj).data)

    def to_representation(self, instance: Customer) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.rung < 4:
            data["customer_number"] = None
        return data


class CustomerListOut(serializers.Serializer):
    # One identifier, one customer: the list holds 0 or 1 (a ListField so the schema says maxItems 1).
    results = serializers.ListField(
        child=CustomerOut(), max_length=1, help_text="The customer that owns the identifier, if any"
    )
    next = serializers.CharField(allow_null=True, help_text="Always null: an identifier belongs to one customer")


class EventOut(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    source = serializers.CharField(help_text="web, email, channel, agent, webhook, pixel or ad")  # type: ignore[assignment]
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    rung = serializers.IntegerField(help_text="The customer's rung right after this event")
    session_id = serializers.CharField()
    properties = serializers.JSONField()
    title = serializers.SerializerMethodField(help_text="A short human title, e.g. “Views /pricing”")

    def get_title(self, obj: Event) -> str:
        return event_text(event=obj.event, source=obj.source, properties=obj.properties, context=obj.context).title


class TimelineOut(serializers.Serializer):
    results = EventOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="Pass as ?cursor= for the next page; null at the end")


class ErrorOut(serializers.Serializer):
    error = serializers.CharField(help_text="What is wrong, in words")
    details = serializers.JSONField(allow_null=True, help_text="More about it (e.g. `merged_into`), or null")
