"""Merge logs written before fingerprints held plain names, emails, phones and traits in their
snapshots: rewrite those values as the fingerprints undo now reads (data only, no schema change)."""

from django.db import migrations

from identity.services.merges import PERSONAL_FIELDS, snapshot_fingerprint

SNAPSHOTS = ("survivor_before", "merged_before", "survivor_after", "merged_after")


def fingerprint_snapshots(apps, schema_editor):
    MergeLog = apps.get_model("identity", "MergeLog")
    Workspace = apps.get_model("workspaces", "Workspace")
    keys = dict(Workspace.objects.values_list("pk", "identifier_key"))
    for log in MergeLog.objects.all().iterator(chunk_size=1000):
        moved = log.moved or {}
        changed = False
        for snap_name in SNAPSHOTS:
            snap = moved.get(snap_name)
            if not isinstance(snap, dict):
                continue
            for name in PERSONAL_FIELDS:
                value = snap.get(name)
                if value and not (isinstance(value, dict) and "fingerprint" in value):
                    snap[name] = snapshot_fingerprint(keys[log.workspace_id], name, value)
                    changed = True
        if changed:
            MergeLog.objects.filter(pk=log.pk).update(moved=moved)


class Migration(migrations.Migration):
    dependencies = [("identity", "0002_privacy")]

    operations = [migrations.RunPython(fingerprint_snapshots, migrations.RunPython.noop)]
