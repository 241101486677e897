# The FilterSets live in wallets.filtersets, shared with the admin.
from wallets.filtersets import (
    AuditRecordFilterSet,
    PlayerFilterSet,
    ProviderFilterSet,
    SessionFilterSet,
    TransactionFilterSet,
)

__all__ = [
    "AuditRecordFilterSet",
    "PlayerFilterSet",
    "ProviderFilterSet",
    "SessionFilterSet",
    "TransactionFilterSet",
]
