# The FilterSets live in fraud.filtersets, shared with the admin.
from fraud.filtersets import CaseFilterSet, SnoozeFilterSet

__all__ = ["CaseFilterSet", "SnoozeFilterSet"]
