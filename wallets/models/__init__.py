from wallets.models.audit import AuditRecord
from wallets.models.ledger import BetRefusal, Transaction
from wallets.models.players import Player, Wallet
from wallets.models.providers import Provider, ProviderCredential
from wallets.models.sessions import GameSession, Round, SessionCleanupRun, SessionCleanupStat

__all__ = [
    "AuditRecord",
    "BetRefusal",
    "GameSession",
    "Player",
    "Provider",
    "ProviderCredential",
    "Round",
    "SessionCleanupRun",
    "SessionCleanupStat",
    "Transaction",
    "Wallet",
]
