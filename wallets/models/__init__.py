from wallets.models.audit import AuditRecord
from wallets.models.ledger import (
    ArchivedWalletTotal,
    BetRefusal,
    IdempotencyKey,
    LedgerArchive,
    Transaction,
)
from wallets.models.players import Player, Wallet
from wallets.models.providers import Provider, ProviderCredential
from wallets.models.sessions import GameSession, Round, SessionCleanupRun, SessionCleanupStat

__all__ = [
    "ArchivedWalletTotal",
    "AuditRecord",
    "BetRefusal",
    "GameSession",
    "IdempotencyKey",
    "LedgerArchive",
    "Player",
    "Provider",
    "ProviderCredential",
    "Round",
    "SessionCleanupRun",
    "SessionCleanupStat",
    "Transaction",
    "Wallet",
]
