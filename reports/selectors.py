"""Reads of the money reports: GGR from the daily roll-up, provider statements, and a wallet's
balance, reserved and movements at any past instant, exact against the ledger."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import Sum

from reports.models import GgrDaily, ProviderFee, ProviderInvoice
from wallets import currencies
from wallets.money import format_amount

GROUP_FIELDS = ("provider", "game", "currency", "day", "month")
FIGURES = (
    "stakes_minor",
    "refunds_minor",
    "wins_minor",
    "resettlements_minor",
    "free_round_minor",
    "promo_minor",
    "jackpot_minor",
    "reward_minor",
    "bets",
    "rounds",
)


def human(minor: int, currency: str) -> str:
    """Money as people read it: "1,234.50 EUR"."""
    text = format_amount(minor, currency)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return f"{sign}{grouped}{'.' + fraction if fraction else ''} {currency}"


@dataclass
class GgrRow:
    """One line of a GGR report, figures in minor units of `currency` (money is never added
    across currencies). Keys not grouped by are None."""

    provider: str | None
    game: str | None
    currency: str
    day: date | None
    month: date | None
    stakes_minor: int = 0
    refunds_minor: int = 0
    wins_minor: int = 0
    resettlements_minor: int = 0
    free_round_minor: int = 0
    promo_minor: int = 0
    jackpot_minor: int = 0
    reward_minor: int = 0
    bets: int = 0
    rounds: int = 0

    @property
    def promo_credits_minor(self) -> int:
        return self.free_round_minor + self.promo_minor + self.jackpot_minor + self.reward_minor

    @property
    def ggr_minor(self) -> int:
        return self.stakes_minor - self.refunds_minor - self.wins_minor

    @property
    def ngr_minor(self) -> int:
        """GGR less promotional credits (what the games earned after what was given away)."""
        return self.ggr_minor - self.promo_credits_minor

    def money(self, name: str) -> str:
        return human(getattr(self, name), self.currency)


def ggr_rows(
    *,
    start: date,
    end: date,
    group: tuple[str, ...] = ("provider", "game", "currency", "day"),
    provider_codes: list[str] | None = None,
    games: list[str] | None = None,
    currencies_: list[str] | None = None,
) -> list[GgrRow]:
    """GGR between the UTC days `start` and `end` (inclusive), grouped by `group` (any of
    provider, game, currency, and day or month). Money is never added across currencies:
    currency is always a key of the result, named in `group` or not."""
    by = ["currency"]
    if "provider" in group:
        by.append("provider__code")
    if "game" in group:
        by.append("game_id")
    if "day" in group:
        by.append("day")
    queryset = GgrDaily.objects.filter(day__gte=start, day__lte=end)
    if provider_codes:
        queryset = queryset.filter(provider__code__in=provider_codes)
    if games:
        queryset = queryset.filter(game_id__in=games)
    if currencies_:
        queryset = queryset.filter(currency__in=currencies_)
    if "month" in group:
        from django.db.models.functions import TruncMonth

        queryset = queryset.annotate(month=TruncMonth("day"))
        by.append("month")
    totals = queryset.values(*by).annotate(**{f: Sum(f) for f in FIGURES}).order_by(*by)
    rows = []
    for entry in totals:
        month = entry.get("month")
        if isinstance(month, datetime):
            month = month.date()
        rows.append(
            GgrRow(
                provider=entry.get("provider__code"),
                game=entry.get("game_id"),
                currency=entry["currency"],
                day=entry.get("day"),
                month=month,
                **{f: int(entry[f] or 0) for f in FIGURES},
            )
        )
    period_first = "day" in group or "month" in group
    rows.sort(
        key=lambda r: (
            (r.day or r.month or date.min) if period_first else date.min,
            r.provider or "",
            r.game or "",
            r.currency,
        )
    )
    return rows


def totals_by_currency(rows: list[GgrRow]) -> list[GgrRow]:
    """The rows added up per currency."""
    totals: dict[str, GgrRow] = {}
    for row in rows:
        total = totals.setdefault(
            row.currency,
            GgrRow(provider=None, game=None, currency=row.currency, day=None, month=None),
        )
        for name in FIGURES:
            setattr(total, name, getattr(total, name) + getattr(row, name))
    return [totals[c] for c in sorted(totals)]


# --- provider statements --------------------------------------------------------------------


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def fee_periods(provider, first: date, last: date) -> list[tuple[date, date, Decimal]]:
    """(from, to, percent) covering first..last: the provider's fee in effect on each day, from
    its history (0 % before its first entry). A rate set mid-month splits the month."""
    history = ProviderFee.objects.filter(provider=provider, effective_from__lte=last).order_by(
        "effective_from"
    )
    periods = []
    begins, percent = first, Decimal(0)
    for entry in history:
        if entry.effective_from <= first:
            percent = entry.percent
            continue
        periods.append((begins, entry.effective_from - timedelta(days=1), percent))
        begins, percent = entry.effective_from, entry.percent
    periods.append((begins, last, percent))
    return periods


def fee_of(ggr_minor: int, percent: Decimal) -> int:
    """The fee on `ggr_minor`, rounded half up to the minor unit (exact Decimal arithmetic)."""
    return int((Decimal(ggr_minor) * percent / 100).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass
class StatementLine:
    currency: str
    stakes_minor: int = 0
    refunds_minor: int = 0
    wins_minor: int = 0
    promo_credits_minor: int = 0
    ggr_minor: int = 0
    fee_minor: int = 0
    amount_due_minor: int = 0
    rounds: int = 0
    # (from, to, percent, ggr, fee) per fee period
    periods: list[tuple[date, date, Decimal, int, int]] = field(default_factory=list)
    invoice: ProviderInvoice | None = None
    differences: list[tuple[str, int, int, int]] = field(default_factory=list)

    def money(self, name: str) -> str:
        return human(getattr(self, name), self.currency)


@dataclass
class Statement:
    provider: object
    month: date
    first: date
    last: date
    lines: list[StatementLine]
    # invoices for currencies with no GGR this month
    unmatched_invoices: list[ProviderInvoice]

    @property
    def has_differences(self) -> bool:
        return any(line.differences for line in self.lines) or bool(self.unmatched_invoices)


def provider_statement(provider, month: date) -> Statement:
    """The provider's statement for `month`: per currency, GGR (from the roll-up), the fee at
    the rate in effect each day (a rate change mid-month splits the month), and the amount due
    (the fee; nothing is due on a negative GGR). Compared with the provider's invoice figures
    for that month where entered: each figure that differs is listed (ours, theirs, ours -
    theirs)."""
    first, last = month_bounds(month)
    periods = fee_periods(provider, first, last)
    lines: dict[str, StatementLine] = {}
    for begins, ends, percent in periods:
        for row in ggr_rows(
            start=begins, end=ends, group=("currency",), provider_codes=[provider.code]
        ):
            line = lines.setdefault(row.currency, StatementLine(currency=row.currency))
            line.stakes_minor += row.stakes_minor
            line.refunds_minor += row.refunds_minor
            line.wins_minor += row.wins_minor
            line.promo_credits_minor += row.promo_credits_minor
            line.ggr_minor += row.ggr_minor
            line.rounds += row.rounds
            fee = fee_of(row.ggr_minor, percent)
            line.fee_minor += fee
            line.periods.append((begins, ends, percent, row.ggr_minor, fee))
    for line in lines.values():
        line.amount_due_minor = max(line.fee_minor, 0)
    invoices = {
        i.currency: i for i in ProviderInvoice.objects.filter(provider=provider, month=first)
    }
    for currency, line in lines.items():
        invoice = invoices.pop(currency, None)
        line.invoice = invoice
        if invoice is None:
            continue
        for label, ours, theirs in (
            ("stakes", line.stakes_minor - line.refunds_minor, invoice.stakes_minor),
            ("wins", line.wins_minor, invoice.wins_minor),
            ("GGR", line.ggr_minor, invoice.ggr_minor),
            ("fee", line.fee_minor, invoice.fee_minor),
            ("amount due", line.amount_due_minor, invoice.amount_due_minor),
        ):
            if theirs is not None and ours != theirs:
                line.differences.append((label, ours, theirs, ours - theirs))
    return Statement(
        provider=provider,
        month=first,
        first=first,
        last=last,
        lines=[lines[c] for c in sorted(lines)],
        unmatched_invoices=sorted(invoices.values(), key=lambda i: i.currency),
    )


# --- point-in-time balances and statements --------------------------------------------------

# A wallet's balance and reserved at an instant, in one statement (one snapshot, one round
# trip; three index reads whatever the wallet's history):
# - balance: balance_after_minor of the wallet's last row at or before the instant
#   (txn_by_wallet_time), plus the hold decisions made after that row and up to the instant,
#   which moved the balance without a row of their own (_decision_effect says which);
# - reserved: the rows still held at the instant (txn_hold_history: rows that were ever held),
#   plus what each buy-in session open at the instant kept: its buy-in, less what its bets drew
#   from it, plus what rollbacks of those bets gave back while it was open (the remainder is
#   released when the session ends).
_WALLET_AT_SQL = """
WITH last AS (
    SELECT created_at, balance_after_minor FROM wallets_transaction
    WHERE wallet_id = %(wallet)s AND created_at <= %(at)s
    ORDER BY created_at DESC, id DESC LIMIT 1
),
holds AS (
    SELECT kind, status, delta_minor, amount_minor, decided_at FROM wallets_transaction
    WHERE wallet_id = %(wallet)s AND created_at <= %(at)s
      AND (status = 'held' OR (decided_at IS NOT NULL AND kind <> 'adjustment'))
)
SELECT
    COALESCE((SELECT balance_after_minor FROM last), 0)
    + COALESCE((
        SELECT SUM(CASE
            WHEN kind = 'withdrawal' AND status = 'posted' THEN -amount_minor
            WHEN delta_minor > 0 AND status = 'rejected' THEN -amount_minor
            ELSE 0 END)
        FROM holds
        WHERE decided_at <= %(at)s
          AND decided_at > COALESCE((SELECT created_at FROM last), '-infinity')
    ), 0),
    COALESCE((
        SELECT SUM(amount_minor) FROM holds WHERE decided_at IS NULL OR decided_at > %(at)s
    ), 0)
    + COALESCE((
        SELECT SUM(s.buy_in_minor - COALESCE(used.minor, 0) + COALESCE(back.minor, 0))
        FROM wallets_gamesession s
        LEFT JOIN LATERAL (
            SELECT SUM(b.reserved_used_minor) AS minor FROM wallets_transaction b
            WHERE b.session_id = s.id AND b.kind = 'bet' AND b.reserved_used_minor > 0
              AND b.created_at <= %(at)s
        ) used ON TRUE
        LEFT JOIN LATERAL (
            SELECT SUM(b.reserved_used_minor) AS minor FROM wallets_transaction b
            JOIN wallets_transaction rb ON rb.reference_id = b.id AND rb.kind = 'rollback'
             AND rb.delta_minor > 0 AND rb.created_at <= %(at)s
            WHERE b.session_id = s.id AND b.kind = 'bet' AND b.reserved_used_minor > 0
        ) back ON TRUE
        WHERE s.wallet_id = %(wallet)s AND s.buy_in_minor > 0 AND s.created_at <= %(at)s
          AND (s.ended_at IS NULL OR s.ended_at > %(at)s)
    ), 0)
"""


def _decision_effect(kind: str, status: str, delta_minor: int, amount_minor: int) -> int:
    """What a hold's decision did to the balance when it was made: an approved withdrawal paid
    out, a rejected credit taken back. (An approved credit or a rejected withdrawal only left
    `reserved`; a held win reversed has a rollback row of its own.) _WALLET_AT_SQL applies the
    same rule in SQL; the property tests hold the two together."""
    if kind == "withdrawal" and status == "posted":
        return -amount_minor
    if delta_minor > 0 and status == "rejected":
        return -amount_minor
    return 0


@dataclass(frozen=True)
class WalletAt:
    wallet_id: int
    currency: str
    at: datetime
    balance_minor: int
    reserved_minor: int

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.reserved_minor


def wallet_at(wallet, at: datetime) -> WalletAt:
    """The wallet's balance and reserved as they stood at the instant `at` (everything written
    or decided at or before it counts): one statement, _WALLET_AT_SQL."""
    with connection.cursor() as cursor:
        cursor.execute(_WALLET_AT_SQL, {"wallet": wallet.pk, "at": at})
        balance, reserved = (int(value) for value in cursor.fetchone())  # SUM is numeric
    return WalletAt(
        wallet_id=wallet.pk,
        currency=wallet.currency,
        at=at,
        balance_minor=balance,
        reserved_minor=reserved,
    )


def player_at(player, at: datetime) -> list[WalletAt]:
    """Every wallet of the player as it stood at `at` (a wallet opened later is left out)."""
    return [
        wallet_at(wallet, at)
        for wallet in player.wallets.filter(created_at__lte=at).order_by("currency")
    ]


@dataclass(frozen=True)
class Movement:
    at: datetime
    transaction_id: int | None
    kind: str
    what: str
    provider: str
    reference: str
    balance_effect_minor: int
    reserved_effect_minor: int
    balance_after_minor: int


_MOVEMENTS_SQL = """
SELECT t.id, t.created_at, t.kind, t.status, t.delta_minor, t.amount_minor, t.decided_at,
       t.credit_type, t.external_id, t.round_external_id, t.note, p.code,
       -- a session's buy-in: what a bet drew from it, what a rollback gave back to it (while
       -- the bet's session was open)
       CASE WHEN t.kind = 'bet' THEN -t.reserved_used_minor
            WHEN b.reserved_used_minor > 0
             AND (bs.ended_at IS NULL OR bs.ended_at > t.created_at) THEN b.reserved_used_minor
            ELSE 0 END
FROM wallets_transaction t
LEFT JOIN wallets_provider p ON p.id = t.provider_id
LEFT JOIN wallets_transaction b
  ON b.id = t.reference_id AND t.kind = 'rollback' AND t.delta_minor > 0 AND b.kind = 'bet'
LEFT JOIN wallets_gamesession bs ON bs.id = b.session_id
WHERE t.wallet_id = %(wallet)s AND t.created_at > %(start)s AND t.created_at <= %(end)s
ORDER BY t.created_at, t.id
"""

# Buy-in sessions opened or ended in the period: the buy-in reserved when the session opened,
# and what was left of it released when it ended.
_SESSIONS_EVENTS_SQL = """
SELECT s.id, s.created_at, s.ended_at, s.buy_in_minor,
       s.buy_in_minor
       - COALESCE((SELECT SUM(b.reserved_used_minor) FROM wallets_transaction b
                   WHERE b.session_id = s.id AND b.kind = 'bet' AND b.reserved_used_minor > 0
                     AND b.created_at <= s.ended_at), 0)
       + COALESCE((SELECT SUM(b.reserved_used_minor) FROM wallets_transaction b
                   JOIN wallets_transaction rb ON rb.reference_id = b.id
                    AND rb.kind = 'rollback' AND rb.delta_minor > 0
                    AND rb.created_at < s.ended_at
                   WHERE b.session_id = s.id AND b.kind = 'bet'
                     AND b.reserved_used_minor > 0), 0)
FROM wallets_gamesession s
WHERE s.wallet_id = %(wallet)s AND s.buy_in_minor > 0
  AND ((s.created_at > %(start)s AND s.created_at <= %(end)s)
       OR (s.ended_at > %(start)s AND s.ended_at <= %(end)s))
"""

_DECISIONS_SQL = """
SELECT t.id, t.decided_at, t.kind, t.status, t.delta_minor, t.amount_minor, t.external_id,
       p.code
FROM wallets_transaction t
LEFT JOIN wallets_provider p ON p.id = t.provider_id
WHERE t.wallet_id = %(wallet)s AND t.decided_at > %(start)s AND t.decided_at <= %(end)s
  AND t.kind <> 'adjustment'
  AND t.created_at <= %(end)s
"""

MAX_STATEMENT_ROWS = 50_000


@dataclass
class WalletStatement:
    wallet_id: int
    currency: str
    start: datetime
    end: datetime
    opening: WalletAt
    closing: WalletAt
    movements: list[Movement]
    truncated: bool = False


def _row_balance_effect(kind: str, status: str, delta: int, decided_at) -> int:
    """What a ledger row did to the balance when it was written."""
    if kind == "withdrawal" and decided_at is not None:
        return 0  # it was held: paid out (or not) when decided
    if kind == "withdrawal" and status == "held":
        return 0
    return delta


def _row_reserved_effect(kind, status, delta, amount, decided_at) -> int:
    if status == "held" or (decided_at is not None and kind in ("deposit", "withdrawal", "win")):
        return amount
    return 0


def wallet_statement(wallet, start: datetime, end: datetime) -> WalletStatement:
    """Every movement of the wallet's balance or reserved after `start` and up to `end`, in
    order, with the running balance: ledger rows when written, and hold decisions when made
    (an approved withdrawal paid out, a rejected credit taken back, a hold released). The
    opening balance plus the movements is the closing balance (property-tested)."""
    opening = wallet_at(wallet, start)
    closing = wallet_at(wallet, end)
    params = {"wallet": wallet.pk, "start": start, "end": end}
    events = []
    with connection.cursor() as cursor:
        cursor.execute(_MOVEMENTS_SQL, params)
        for (
            txn_id, created_at, kind, status, delta, amount, decided_at, credit_type,
            external_id, round_id, _note, provider, buy_in_effect,
        ) in cursor.fetchall():  # fmt: skip
            what = kind if not credit_type else f"{kind} ({credit_type.replace('_', ' ')})"
            if kind == "rollback" and delta == 0:
                what = "rollback (nothing to refund)"
            if _row_reserved_effect(kind, status, delta, amount, decided_at):
                what += ", held"
            events.append(
                (created_at, txn_id, 0, kind, what, provider or "", round_id or external_id,
                 _row_balance_effect(kind, status, delta, decided_at),
                 _row_reserved_effect(kind, status, delta, amount, decided_at) + buy_in_effect)
            )  # fmt: skip
        cursor.execute(_SESSIONS_EVENTS_SQL, params)
        for session_id, opened_at, ended_at, buy_in, released in cursor.fetchall():
            released = int(released)  # SUM is numeric
            if start < opened_at <= end:
                events.append(
                    (opened_at, 0, -1, "session", f"buy-in reserved (session {session_id})",
                     "", "", 0, buy_in)
                )  # fmt: skip
            if ended_at is not None and start < ended_at <= end and released:
                events.append(
                    (ended_at, 0, 2, "session", f"session {session_id} ended: buy-in released",
                     "", "", 0, -released)
                )  # fmt: skip
        cursor.execute(_DECISIONS_SQL, params)
        for (
            txn_id,
            decided_at,
            kind,
            status,
            delta,
            amount,
            external_id,
            provider,
        ) in cursor.fetchall():
            if status == "rolled_back":
                what = f"held {kind} reversed: hold released"
            else:
                verdict = "approved" if status == "posted" else "rejected"
                what = f"held {kind} {verdict}"
            events.append(
                (decided_at, txn_id, 1, kind, what, provider or "", external_id,
                 _decision_effect(kind, status, delta, amount), -amount)
            )  # fmt: skip
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    truncated = len(events) > MAX_STATEMENT_ROWS
    movements = []
    running = opening.balance_minor
    for at, txn_id, _, kind, what, provider, reference, balance_effect, reserved_effect in events[
        :MAX_STATEMENT_ROWS
    ]:
        running += balance_effect
        movements.append(
            Movement(
                at=at,
                transaction_id=txn_id or None,  # None: a session's buy-in, not a ledger row
                kind=kind,
                what=what,
                provider=provider,
                reference=reference,
                balance_effect_minor=balance_effect,
                reserved_effect_minor=reserved_effect,
                balance_after_minor=running,
            )
        )
    return WalletStatement(
        wallet_id=wallet.pk,
        currency=wallet.currency,
        start=start,
        end=end,
        opening=opening,
        closing=closing,
        movements=movements,
        truncated=truncated,
    )


def group_by_currency(rows) -> dict[str, list]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row.currency].append(row)
    return grouped


def currency_exponent(currency: str) -> int:
    return currencies.exponent(currency)
