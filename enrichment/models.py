"""Enrichment: the network-answer cache, each workspace's provider settings and its usage figures."""

from typing import Any

from django.db import models
from django.utils import timezone

from integrations.crypto import credentials_decrypt, credentials_encrypt
from workspaces.models import Workspace


class NetworkClass(models.TextChoices):
    ISP = "isp", "Internet provider (residential)"
    MOBILE = "mobile", "Mobile network"
    HOSTING = "hosting", "Hosting / cloud / VPN"
    BUSINESS = "business", "Business network"
    EDUCATION = "education", "Education / research"
    UNKNOWN = "unknown", "Unknown"


class CompanyProvider(models.TextChoices):
    OFFLINE = "offline", "Offline (ASN data shipped with Clarm)"
    IPINFO = "ipinfo", "ipinfo (your token)"
    PDL = "pdl", "People Data Labs IP enrichment (your key)"
    SNITCHER = "snitcher", "Snitcher IP to Company (your key)"
    DEALFRONT = "dealfront", "Dealfront / Leadfeeder IP-Enrich (your key)"


class NetworkAnswer(models.Model):
    """What one provider said about one network prefix (/24 or /48), for TTL days. Shared by every
    workspace (`workspace` null) when bought with the deployment's key; kept in one workspace when
    bought with that workspace's own key. `found` False is a negative answer (cached too)."""

    workspace = models.ForeignKey(Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=CompanyProvider.choices)
    prefix = models.CharField(max_length=64)
    found = models.BooleanField(default=False)
    network_class = models.CharField(max_length=16, choices=NetworkClass.choices, default=NetworkClass.UNKNOWN)
    company = models.JSONField(default=dict, blank=True)
    # Why there is no answer: "" (found), "not_found", or the provider error kept for a short while.
    error = models.CharField(max_length=200, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "prefix"],
                condition=models.Q(workspace__isnull=True),
                name="enrich_answer_shared_unique",
            ),
            models.UniqueConstraint(
                fields=["workspace", "provider", "prefix"],
                condition=models.Q(workspace__isnull=False),
                name="enrich_answer_workspace_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.prefix}"


class EnrichmentSettings(models.Model):
    """A workspace's enrichment choices: its company provider and key (BYOK), person enrichment, and
    the intent score's page weights (None: the defaults in enrichment.scoring)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16, choices=CompanyProvider.choices, default=CompanyProvider.OFFLINE)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    person_api_key_encrypted = models.TextField(blank=True, editable=False)
    # None: the region's default (off in the EU/UK region, on elsewhere once a key is set).
    person_enrichment = models.BooleanField(null=True, blank=True)
    page_weights = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"enrichment settings of {self.workspace_id}"

    @staticmethod
    def _secret(token: str) -> str:
        return str(credentials_decrypt(token).get("key", "")) if token else ""

    @property
    def api_key(self) -> str:
        return self._secret(self.api_key_encrypted)

    @property
    def person_api_key(self) -> str:
        return self._secret(self.person_api_key_encrypted)

    @staticmethod
    def sealed(key: str) -> str:
        return credentials_encrypt({"key": key}) if key else ""


class EnrichmentUsage(models.Model):
    """What enrichment cost a workspace: network lookups, how many the cache answered, provider calls."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    lookups = models.PositiveBigIntegerField(default=0)
    cache_hits = models.PositiveBigIntegerField(default=0)
    provider_calls = models.PositiveBigIntegerField(default=0)
    provider_errors = models.PositiveBigIntegerField(default=0)
    person_calls = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"enrichment usage of {self.workspace_id}"

    @property
    def hit_ratio(self) -> float | None:
        return self.cache_hits / self.lookups if self.lookups else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "lookups": self.lookups,
            "cache_hits": self.cache_hits,
            "cache_hit_ratio": self.hit_ratio,
            "provider_calls": self.provider_calls,
            "provider_errors": self.provider_errors,
            "person_calls": self.person_calls,
        }
