"""The one family of wallet errors: one class per code of wallet-api.md.

Services raise them; the provider API and the back-office API render them in one place each.
Every error carries its code, HTTP status, a human message, and where known the field at fault
and the player's available balance.
"""


class WalletError(Exception):
    code = "INTERNAL_ERROR"
    http_status = 500
    default_message = "internal error, retry"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        balance_minor: int | None = None,
        currency: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.balance_minor = balance_minor
        self.currency = currency
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.http_status >= 500


class ValidationFailed(WalletError):
    code, http_status, default_message = "VALIDATION_ERROR", 400, "invalid request"


class InvalidAmount(WalletError):
    code, http_status, default_message = "INVALID_AMOUNT", 400, "invalid amount"


class CurrencyMismatch(WalletError):
    code, http_status, default_message = (
        "CURRENCY_MISMATCH",
        400,
        "currency differs from the session's",
    )


class InvalidSignature(WalletError):
    code, http_status, default_message = "INVALID_SIGNATURE", 401, "invalid signature"


class SignatureExpired(WalletError):
    code, http_status, default_message = (
        "SIGNATURE_EXPIRED",
        401,
        "timestamp outside the allowed window",
    )


class InvalidToken(WalletError):
    code, http_status, default_message = "INVALID_TOKEN", 401, "unknown session token"


class SessionExpired(WalletError):
    code, http_status, default_message = "SESSION_EXPIRED", 401, "session is not open"


class InsufficientFunds(WalletError):
    code, http_status, default_message = "INSUFFICIENT_FUNDS", 402, "insufficient funds"


class IpNotAllowed(WalletError):
    code, http_status, default_message = (
        "IP_NOT_ALLOWED",
        403,
        "caller address is not in the provider's allowlist",
    )


class ProviderSuspended(WalletError):
    code, http_status, default_message = "PROVIDER_SUSPENDED", 403, "provider is suspended"


class ProviderRestricted(WalletError):
    code, http_status, default_message = (
        "PROVIDER_RESTRICTED",
        403,
        "provider is restricted: no new sessions",
    )


class PlayerBlocked(WalletError):
    code, http_status, default_message = "PLAYER_BLOCKED", 403, "player may not play"


class BetDeclined(WalletError):
    code, http_status, default_message = "BET_DECLINED", 403, "bet declined by a risk rule"


class LimitExceeded(WalletError):
    """A player-protection limit or exclusion refuses the call; the message says which."""

    code, http_status, default_message = (
        "LIMIT_EXCEEDED",
        403,
        "a player-protection limit refuses this",
    )


class InvalidReference(WalletError):
    code, http_status, default_message = (
        "INVALID_REFERENCE",
        409,
        "reference is not a bet of this provider and player",
    )


class DuplicateMismatch(WalletError):
    code, http_status, default_message = (
        "DUPLICATE_MISMATCH",
        409,
        "transaction id already used with a different payload",
    )


class TransactionRolledBack(WalletError):
    code, http_status, default_message = (
        "TRANSACTION_ROLLED_BACK",
        409,
        "this transaction id was already rolled back",
    )


class BetSettled(WalletError):
    code, http_status, default_message = (
        "BET_SETTLED",
        409,
        "the round of this bet has already paid a win: it cannot be rolled back",
    )


class RoundClosed(WalletError):
    code, http_status, default_message = "ROUND_CLOSED", 409, "round is closed"


class SessionLimit(WalletError):
    code, http_status, default_message = (
        "SESSION_LIMIT",
        409,
        "player has too many open sessions",
    )


class InternalError(WalletError):
    pass


class ServiceUnavailable(WalletError):
    code, http_status, default_message = (
        "SERVICE_UNAVAILABLE",
        503,
        "service temporarily unavailable, retry",
    )


# Refusals that only protocol adapters meet (the native contract never asks for them): a win
# whose bet is unknown, or a second settlement of a bet, for protocols that settle each bet once.
class BetNotFound(WalletError):
    code, http_status, default_message = (
        "BET_NOT_FOUND",
        409,
        "no bet of this player to settle",
    )


class RoundSettled(WalletError):
    code, http_status, default_message = (
        "ROUND_SETTLED",
        409,
        "this bet has already been settled",
    )


# Errors of the back office (not part of the provider contract) share the family.
class NotAllowed(WalletError):
    code, http_status, default_message = "NOT_ALLOWED", 409, "operation not allowed in this state"


class FourEyesRequired(WalletError):
    code, http_status, default_message = (
        "FOUR_EYES_REQUIRED",
        409,
        "a second, different staff user must approve",
    )


ERRORS_BY_CODE = {
    cls.code: cls for cls in WalletError.__subclasses__() if cls not in (InternalError,)
} | {"INTERNAL_ERROR": InternalError}
