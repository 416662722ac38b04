"""Deliveries are deduplicated by the SHA-256 of the provider's whole event id (ids over 255
characters were cut and collided); the id itself is kept whole; a `rejected` status; a receipt per
request (one transaction stores a whole batch); no index of the workspace column alone (the composite
indexes lead with it)."""

import hashlib

import django.db.models.deletion
from django.db import migrations, models


def _keys_fill(apps, schema_editor):
    WebhookDelivery = apps.get_model("integrations", "WebhookDelivery")
    batch = []
    for delivery in WebhookDelivery.objects.only("pk", "provider_event_id").iterator(chunk_size=2000):
        delivery.event_key = hashlib.sha256(delivery.provider_event_id.encode()).hexdigest()
        batch.append(delivery)
        if len(batch) >= 2000:
            WebhookDelivery.objects.bulk_update(batch, ["event_key"])
            batch = []
    if batch:
        WebhookDelivery.objects.bulk_update(batch, ["event_key"])


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="event_key",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="receipt",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="provider_event_id",
            field=models.TextField(),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("received", "Received"),
                    ("processed", "Processed"),
                    ("failed", "Failed (will retry)"),
                    ("rejected", "Rejected"),
                    ("ignored", "Ignored (event type not used)"),
                ],
                default="received",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="workspaces.workspace",
            ),
        ),
        migrations.RunPython(_keys_fill, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="webhookdelivery", name="webhook_delivery_unique_event"),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.UniqueConstraint(
                fields=("workspace", "provider", "event_key"), name="webhook_delivery_unique_key"
            ),
        ),
    ]
