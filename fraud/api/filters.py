# The FilterSets live in fraud.filtersets, shared with the admin.
from fraud.filtersets import CaseFilterSet

__all__ = ["CaseFilterSet"]
