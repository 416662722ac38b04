"""Identity writes. Merges, splits and undo live in `merges`; re-exported here by name."""

# The stitching package uses the merge primitives and they use its ladder: load stitching first so
# either import order works.
import identity.stitching  # noqa: F401  isort: skip
from identity.services.merges import customers_merge_manual, device_split, merge_undo

__all__ = ["customers_merge_manual", "device_split", "merge_undo"]
