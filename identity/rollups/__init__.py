"""Daily rollups for the dashboard: counts per (workspace, date, dimension, key) and one row of facts
per live customer, kept by a processor after events commit. The dashboard reads only these.

- `processor.rollups_advance(workspace_id=…)`: counts the workspace's events above its watermark
  (in id order, in batches) and refreshes the facts of their customers. Idempotent: run twice, it
  counts nothing twice. Enqueued after commit by the ingest write path (`identity.tasks`).
- `processor.rollups_rebuild(workspace=…, start=…, end=…)`: recounts a range of days from events
  and facts (the nightly beat task rebuilds the last two days; `manage.py rollups_rebuild` any range).
"""
