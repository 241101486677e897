"""Reads of the wallets app that more than one caller needs (API, admin, monitoring)."""

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.utils import timezone

from wallets import db

_SESSION_FIGURES_SQL = """
WITH open_now AS (
    SELECT s.provider_id, s.player_id, s.currency, s.reserved_minor,
           s.last_activity_at < %(now)s - make_interval(secs => p.idle_timeout_seconds) AS orphaned
    FROM wallets_gamesession s
    JOIN wallets_provider p ON p.id = s.provider_id
    WHERE s.status = 'open'
),
per_player AS (
    SELECT provider_id, player_id, COUNT(*) AS n FROM open_now GROUP BY provider_id, player_id
),
ended AS (
    SELECT provider_id, status, end_reason, ended_at, created_at
    FROM wallets_gamesession
    WHERE status <> 'open' AND ended_at >= %(window_start)s
)
SELECT p.id, p.code,
       (SELECT COUNT(*) FROM open_now o WHERE o.provider_id = p.id),
       (SELECT COUNT(*) FROM per_player pp WHERE pp.provider_id = p.id),
       (SELECT COALESCE(MAX(n), 0) FROM per_player pp WHERE pp.provider_id = p.id),
       (SELECT COUNT(*) FROM open_now o WHERE o.provider_id = p.id AND o.orphaned),
       (SELECT COALESCE(SUM(reserved_minor), 0)::bigint FROM open_now o
         WHERE o.provider_id = p.id AND o.orphaned),
       (SELECT COUNT(*) FROM ended e WHERE e.provider_id = p.id AND e.end_reason = 'graceful'),
       (SELECT COUNT(*) FROM ended e WHERE e.provider_id = p.id AND e.status = 'abandoned'),
       (SELECT COUNT(*) FROM ended e WHERE e.provider_id = p.id AND e.status = 'abandoned'
          AND e.ended_at >= %(hour_start)s),
       (SELECT COALESCE(ROUND(EXTRACT(EPOCH FROM AVG(e.ended_at - e.created_at))), 0)::bigint
          FROM ended e WHERE e.provider_id = p.id)
FROM wallets_provider p
ORDER BY p.code
"""


@dataclass(frozen=True)
class ProviderSessionFigures:
    provider_id: int
    provider: str
    open_sessions: int
    players_with_open_sessions: int
    max_open_sessions_per_player: int
    # Open sessions idle past the provider's timeout that cleanup has not ended yet.
    orphaned_open_sessions: int
    # What those still hold in reservations (minor units, all currencies added: a count of
    # stuck funds for alerting, not an amount to pay out).
    orphaned_reserved_minor: int
    closed_gracefully: int
    abandoned: int
    abandoned_last_hour: int
    average_duration_seconds: int

    @property
    def graceful_ratio(self) -> float | None:
        ended = self.closed_gracefully + self.abandoned
        return round(self.closed_gracefully / ended, 4) if ended else None

    def as_dict(self) -> dict:
        return {**asdict(self), "graceful_ratio": self.graceful_ratio}


def session_figures(*, window_hours: int = 24, now=None) -> list[ProviderSessionFigures]:
    """Per provider: open sessions, open sessions per player (max), orphaned sessions and what
    they reserve, graceful vs abandoned endings and average duration over the window, sessions
    abandoned in the last hour. Aggregates over sessions only, never the ledger."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _SESSION_FIGURES_SQL,
            {
                "now": now,
                "window_start": now - timedelta(hours=window_hours),
                "hour_start": now - timedelta(hours=1),
            },
        )
        return [ProviderSessionFigures(*row) for row in cursor.fetchall()]


def orphaned_sessions(queryset=None, *, now=None):
    """Open sessions idle past their provider's timeout that cleanup has not ended yet: the
    same rows `session_figures` counts as orphaned_open_sessions. The home panel's card and
    the session list it links to (`?orphaned=yes`) both come from here."""
    from wallets.choices import SessionStatus
    from wallets.models import GameSession

    now = now or timezone.now()
    queryset = GameSession.objects.all() if queryset is None else queryset
    idle_limit = ExpressionWrapper(
        Value(now) - F("provider__idle_timeout_seconds") * Value(timedelta(seconds=1)),
        output_field=DateTimeField(),
    )
    return (
        queryset.filter(status=SessionStatus.OPEN)
        .alias(idle_limit=idle_limit)
        .filter(last_activity_at__lt=F("idle_limit"))
    )


def open_sessions_per_player(*, limit: int = 20) -> list[dict]:
    """Players with the most open sessions right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.player_id, pl.external_id, COUNT(*) AS n, SUM(s.reserved_minor)"
            " FROM wallets_gamesession s JOIN wallets_player pl ON pl.id = s.player_id"
            " WHERE s.status = 'open' GROUP BY s.player_id, pl.external_id"
            " ORDER BY n DESC, s.player_id LIMIT %s",
            [limit],
        )
        return [
            {"player": pid, "external_id": ext, "open_sessions": n, "reserved_minor": int(r or 0)}
            for pid, ext, n, r in cursor.fetchall()
        ]


# --- the session of one wallet API call ------------------------------------------------------


@dataclass(slots=True)
class LivePlayer:
    pk: int
    external_id: str
    status: str
    excluded_until: object = None  # datetime or None (player protection)


@dataclass(slots=True)
class LiveWallet:
    pk: int
    currency: str
    balance_minor: int
    reserved_minor: int

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.reserved_minor


@dataclass(slots=True)
class LiveSession:
    """A game session as one wallet call read it, with its player and wallet: what the ledger
    functions read of a GameSession (they take either). Plain objects: building three model
    instances per call cost a quarter of the call's Python time."""

    pk: int
    status: str
    currency: str
    game_id: str
    authenticated_at: object
    reserved_minor: int
    provider_id: int
    player_id: int
    wallet_id: int
    player: LivePlayer
    wallet: LiveWallet
    last_activity_at: object = None


_LIVE_SESSION_SQL = """
SELECT s.id, s.status, s.currency, s.game_id, s.authenticated_at, s.reserved_minor, s.player_id,
       s.wallet_id, pl.external_id, pl.status, w.balance_minor, w.reserved_minor, p.status,
       pl.excluded_until
FROM wallets_gamesession s
JOIN wallets_player pl ON pl.id = s.player_id
JOIN wallets_wallet w ON w.id = s.wallet_id
JOIN wallets_provider p ON p.id = s.provider_id
WHERE s.token_hash = %s AND s.provider_id = %s
"""


def live_session(provider_id: int, token_hash: str) -> tuple[LiveSession, str] | None:
    """The session with this token hash at this provider, with its player and wallet, and the
    provider's current status, in one prepared query; None when there is none."""
    row = db.fetch_one(_LIVE_SESSION_SQL, [token_hash, provider_id])
    if row is None:
        return None
    (pk, status, currency, game_id, authenticated_at, reserved_minor, player_id, wallet_id,
     player_external_id, player_status, balance_minor, wallet_reserved_minor,
     provider_status, excluded_until) = row  # fmt: skip
    session = LiveSession(
        pk=pk,
        status=status,
        currency=currency,
        game_id=game_id,
        authenticated_at=authenticated_at,
        reserved_minor=reserved_minor,
        provider_id=provider_id,
        player_id=player_id,
        wallet_id=wallet_id,
        player=LivePlayer(
            pk=player_id,
            external_id=player_external_id,
            status=player_status,
            excluded_until=excluded_until,
        ),
        wallet=LiveWallet(
            pk=wallet_id,
            currency=currency,
            balance_minor=balance_minor,
            reserved_minor=wallet_reserved_minor,
        ),
    )
    return session, provider_status


def player_session(provider_id: int, player_external_id: str, *, currency: str = ""):
    """The session a protocol that names the player rather than a token books against: the
    player's newest open session at this provider (in `currency` when given), else their
    newest session of any status (a late win or refund after the session ended). A
    GameSession with its player and wallet, or None when the player never played here."""
    from wallets.models import GameSession

    sessions = GameSession.objects.filter(
        provider_id=provider_id, player__external_id=player_external_id
    ).select_related("player", "wallet")
    if currency:
        sessions = sessions.filter(currency=currency)
    return (
        sessions.filter(status="open").order_by("-id").first() or sessions.order_by("-id").first()
    )


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """What never changes about a session: whose it is and its currency."""

    player_external_id: str
    currency: str


# token hash -> SessionIdentity, per process. A session's player and currency never change, and
# a token names one session for good (a renewed token is a new hash): an entry can never be
# wrong, only unused. Bounded; cleared when full.
_identities: dict[tuple[int, str], SessionIdentity] = {}
_IDENTITIES_MAX = 100_000


def session_identity(provider_id: int, token_hash: str) -> SessionIdentity | None:
    """The player and currency of the session with this token at this provider, from a
    process cache after the first look-up (None: no such session, not cached). Protocols that
    name the player beside the token check it, and read amounts in the session's currency,
    without a query per call; the ledger function still reads the session itself."""
    key = (provider_id, token_hash)
    found = _identities.get(key)
    if found is not None:
        return found
    row = db.fetch_one(
        "SELECT pl.external_id, s.currency FROM wallets_gamesession s"
        " JOIN wallets_player pl ON pl.id = s.player_id"
        " WHERE s.token_hash = %s AND s.provider_id = %s",
        [token_hash, provider_id],
    )
    if row is None:
        return None
    if len(_identities) >= _IDENTITIES_MAX:
        _identities.clear()
    found = _identities[key] = SessionIdentity(*row)
    return found
