from wallets.models.audit import AuditRecord
from wallets.models.ledger import Transaction
from wallets.models.players import Player, Wallet
from wallets.models.providers import Provider, ProviderCredential
from wallets.models.sessions import GameSession, Round

__all__ = [
    "AuditRecord",
    "GameSession",
    "Player",
    "Provider",
    "ProviderCredential",
    "Round",
    "Transaction",
    "Wallet",
]
