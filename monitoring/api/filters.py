# The FilterSets live in monitoring.filtersets, shared with the admin.
from monitoring.filtersets import AlertFilterSet

__all__ = ["AlertFilterSet"]
