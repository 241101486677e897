"""The money simulation's invariants, checked over the real database after a run.

Each check takes the wallets the run played (their ids) and returns readable violations, one
line each; an empty list means the invariant holds. They are plain SQL over the ledger tables
(set-based: one statement per check, never a Python loop over ledger rows), except the hash
chain, which the ledger's own SQL function verifies wallet by wallet, and the wallet drift
check, which is reconciliation's own (`check_wallets`): the simulation also proves that
reconciliation reports nothing where nothing drifted.

What the driver itself saw (the answers the wallet gave, the balance it expects from them, the
refused calls whose wallet changed) is checked in simulator.soak; this module only reads the
database.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import connection

from reconciliation.services import check_wallets
from wallets.models import Wallet
from wallets.money import format_amount

# What counts in a wallet's balance: posted and rolled-back rows (a rollback is its own row),
# and held credits (a held deposit or win is in the balance and in `reserved` until decided).
_COUNTS = """(t.status IN ('posted', 'rolled_back') OR (t.status = 'held' AND t.delta_minor > 0))"""


def _counting(sql: str) -> str:
    """The statement with COUNTS standing for the rows a balance counts (a constant)."""
    return sql.replace("COUNTS", _COUNTS)


def _rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _money(minor: int, currency: str) -> str:
    return f"{format_amount(minor, currency)} {currency}"


def balance_equals_ledger(wallet_ids: list[int]) -> list[str]:
    """The cached balance of each wallet is the sum of its ledger rows' effects."""
    rows = _rows(
        _counting("""
        SELECT w.id, w.currency, w.balance_minor, COALESCE(SUM(t.delta_minor) FILTER (
                   WHERE COUNTS), 0)
          FROM wallets_wallet w LEFT JOIN wallets_transaction t ON t.wallet_id = w.id
         WHERE w.id = ANY(%s)
         GROUP BY w.id
        HAVING w.balance_minor <> COALESCE(SUM(t.delta_minor) FILTER (WHERE COUNTS), 0)
        """),
        [wallet_ids],
    )
    return [
        f"wallet {wid}: cached balance {_money(cached, cur)} but the ledger sums to "
        f"{_money(ledger, cur)}"
        for wid, cur, cached, ledger in rows
    ]


def reconciliation_agrees(wallet_ids: list[int]) -> list[str]:
    """Reconciliation's full wallet check (the one staff rely on) finds the same: no drift."""
    return [
        f"wallet {d.wallet_id}: reconciliation reports drift (balance "
        f"{d.balance_minor} vs {d.expected_balance_minor}, reserved {d.reserved_minor} vs "
        f"{d.expected_reserved_minor})"
        for d in check_wallets(wallet_ids, full=True)
    ]


def hash_chains_verify(wallet_ids: list[int]) -> list[str]:
    """Every wallet's ledger rows form an unbroken hash chain (no row edited, deleted or
    inserted behind the ledger's back)."""
    problems = []
    with connection.cursor() as cursor:
        for wallet_id in wallet_ids:
            cursor.execute("SELECT broken_id FROM pitboss_verify_chain(%s, 0, NULL)", [wallet_id])
            (broken,) = cursor.fetchone()
            if broken is not None:
                problems.append(f"wallet {wallet_id}: hash chain broken at ledger row {broken}")
    return problems


def nothing_negative(wallet_ids: list[int]) -> list[str]:
    """0 <= reserved <= balance for every wallet; no session holds a negative reservation; no
    ledger row has a negative amount."""
    problems = [
        f"wallet {wid}: balance {_money(bal, cur)}, reserved {_money(res, cur)} "
        "(must be 0 <= reserved <= balance)"
        for wid, cur, bal, res in _rows(
            """SELECT id, currency, balance_minor, reserved_minor FROM wallets_wallet
                WHERE id = ANY(%s)
                  AND (balance_minor < 0 OR reserved_minor < 0 OR reserved_minor > balance_minor)
            """,
            [wallet_ids],
        )
    ]
    problems += [
        f"session {sid}: reserved {res} minor units" if res < 0 else f"session {sid}: negative"
        for sid, res in _rows(
            "SELECT id, reserved_minor FROM wallets_gamesession "
            "WHERE wallet_id = ANY(%s) AND reserved_minor < 0",
            [wallet_ids],
        )
    ]
    problems += [
        f"ledger row {tid}: negative amount {amount}"
        for tid, amount in _rows(
            "SELECT id, amount_minor FROM wallets_transaction "
            "WHERE wallet_id = ANY(%s) AND amount_minor < 0",
            [wallet_ids],
        )
    ]
    return problems


def reserved_equals_reservations(wallet_ids: list[int]) -> list[str]:
    """`reserved` is what open sessions still hold of their buy-ins plus the held
    transactions' amounts, and nothing else."""
    rows = _rows(
        """
        SELECT w.id, w.currency, w.reserved_minor, COALESCE(s.total, 0), COALESCE(h.total, 0)
          FROM wallets_wallet w
          LEFT JOIN (SELECT wallet_id, SUM(reserved_minor) AS total FROM wallets_gamesession
                      WHERE status = 'open' AND wallet_id = ANY(%(ids)s) GROUP BY wallet_id) s
                 ON s.wallet_id = w.id
          LEFT JOIN (SELECT wallet_id, SUM(amount_minor) AS total FROM wallets_transaction
                      WHERE status = 'held' AND wallet_id = ANY(%(ids)s) GROUP BY wallet_id) h
                 ON h.wallet_id = w.id
         WHERE w.id = ANY(%(ids)s)
           AND w.reserved_minor <> COALESCE(s.total, 0) + COALESCE(h.total, 0)
        """,
        {"ids": wallet_ids},
    )
    problems = [
        f"wallet {wid}: reserved {_money(res, cur)} but open sessions hold "
        f"{_money(sessions, cur)} and holds {_money(held, cur)}"
        for wid, cur, res, sessions, held in rows
    ]
    problems += [
        f"session {sid} is {status} but still reserves {res} minor units"
        for sid, status, res in _rows(
            "SELECT id, status, reserved_minor FROM wallets_gamesession "
            "WHERE wallet_id = ANY(%s) AND status <> 'open' AND reserved_minor <> 0",
            [wallet_ids],
        )
    ]
    return problems


def applied_at_most_once(wallet_ids: list[int]) -> list[str]:
    """Every (provider, transaction id) is in the ledger at most once whatever its id scope,
    every payment external id at most once per kind, and every bet is refunded at most once:
    a rolled-back bet by exactly one refunding rollback, a bet still counted by none."""
    problems = [
        f"provider {code} transaction id {ext!r} applied {n} times (ledger rows {ids})"
        for code, ext, n, ids in _rows(
            """SELECT p.code, t.external_id, COUNT(*), array_agg(t.id ORDER BY t.id)
                 FROM wallets_transaction t JOIN wallets_provider p ON p.id = t.provider_id
                WHERE t.wallet_id = ANY(%s) AND t.kind IN ('bet', 'win', 'rollback')
                GROUP BY p.code, t.external_id HAVING COUNT(*) > 1""",
            [wallet_ids],
        )
    ]
    problems += [
        f"{kind} external id {ext!r} applied {n} times"
        for kind, ext, n in _rows(
            """SELECT kind, external_id, COUNT(*) FROM wallets_transaction
                WHERE wallet_id = ANY(%s) AND provider_id IS NULL
                  AND kind IN ('deposit', 'withdrawal')
                GROUP BY kind, external_id HAVING COUNT(*) > 1""",
            [wallet_ids],
        )
    ]
    problems += [
        f"bet {bet_id} ({status}) refunded {n} times: rollback rows {ids}"
        for bet_id, status, n, ids in _rows(
            """SELECT b.id, b.status, COUNT(r.id), array_agg(r.id ORDER BY r.id)
                 FROM wallets_transaction b
                 LEFT JOIN wallets_transaction r
                        ON r.reference_id = b.id AND r.kind = 'rollback' AND r.delta_minor > 0
                WHERE b.wallet_id = ANY(%s) AND b.kind = 'bet'
                GROUP BY b.id, b.status
               HAVING COUNT(r.id) <> CASE WHEN b.status = 'rolled_back' THEN 1 ELSE 0 END""",
            [wallet_ids],
        )
    ]
    return problems


def money_is_conserved(wallet_ids: list[int]) -> list[str]:
    """deposits - withdrawals - stakes + wins + refunds + corrections = balance, per wallet,
    each term summed from the rows of its own kind (amounts, not the rows' signed effects), and
    each row's effect has the sign its kind says (a bet never credits, a win never debits)."""
    rows = _rows(
        _counting("""
        SELECT w.id, w.currency, w.balance_minor,
               COALESCE(SUM(t.amount_minor) FILTER (
                   WHERE t.kind = 'deposit' AND t.status IN ('posted', 'held')), 0),
               COALESCE(SUM(t.amount_minor) FILTER (
                   WHERE t.kind = 'withdrawal' AND t.status = 'posted'), 0),
               COALESCE(SUM(t.amount_minor) FILTER (
                   WHERE t.kind = 'bet' AND t.status IN ('posted', 'rolled_back')), 0),
               COALESCE(SUM(t.amount_minor) FILTER (
                   WHERE t.kind IN ('win', 'promo') AND t.status IN ('posted', 'held')), 0),
               COALESCE(SUM(t.delta_minor) FILTER (
                   WHERE t.kind = 'rollback' AND COUNTS), 0),
               COALESCE(SUM(t.delta_minor) FILTER (
                   WHERE t.kind = 'adjustment' AND COUNTS), 0)
          FROM wallets_wallet w LEFT JOIN wallets_transaction t ON t.wallet_id = w.id
         WHERE w.id = ANY(%s)
         GROUP BY w.id
        """),
        [wallet_ids],
    )
    problems = []
    for wid, cur, balance, deposits, withdrawals, stakes, wins, refunds, corrections in rows:
        total = deposits - withdrawals - stakes + wins + refunds + corrections
        if total != balance:
            problems.append(
                f"wallet {wid}: deposits {_money(deposits, cur)} - withdrawals "
                f"{_money(withdrawals, cur)} - stakes {_money(stakes, cur)} + wins "
                f"{_money(wins, cur)} + refunds {_money(refunds, cur)} + corrections "
                f"{_money(corrections, cur)} = {_money(total, cur)}, balance {_money(balance, cur)}"
            )
    problems += [
        f"ledger row {tid} ({kind}, {status}): effect {delta} for amount {amount}"
        for tid, kind, status, amount, delta in _rows(
            """SELECT id, kind, status, amount_minor, delta_minor FROM wallets_transaction
                WHERE wallet_id = ANY(%s) AND (
                      (kind IN ('bet', 'withdrawal') AND delta_minor <> -amount_minor)
                   OR (kind IN ('deposit', 'win', 'promo') AND delta_minor <> amount_minor)
                   OR (kind = 'rollback' AND delta_minor < 0))""",
            [wallet_ids],
        )
    ]
    return problems


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[list[int]], list[str]]


CHECKS = [
    Check("cached balance = ledger", balance_equals_ledger),
    Check("reconciliation finds no drift", reconciliation_agrees),
    Check("hash chains verify", hash_chains_verify),
    Check("nothing negative", nothing_negative),
    Check("reserved = open reservations + holds", reserved_equals_reservations),
    Check("each transaction id applied at most once", applied_at_most_once),
    Check("money conserved (per kind)", money_is_conserved),
]


def check_all(wallet_ids: Iterable[int]) -> dict[str, list[str]]:
    """Every database invariant over these wallets: check name -> violations."""
    ids = sorted(set(wallet_ids))
    return {check.name: check.run(ids) for check in CHECKS}


def wallets_of(player_ids: Iterable[int]) -> list[int]:
    return list(Wallet.objects.filter(player_id__in=list(player_ids)).values_list("pk", flat=True))


# One wallet's state as a refused call must leave it: balance, reserved, how many ledger rows
# (and the newest), the rows per status, and its sessions' statuses and reservations.
_SNAPSHOT_SQL = """
SELECT w.balance_minor, w.reserved_minor,
       (SELECT COUNT(*) FROM wallets_transaction t WHERE t.wallet_id = w.id),
       (SELECT COALESCE(MAX(id), 0) FROM wallets_transaction t WHERE t.wallet_id = w.id),
       (SELECT COALESCE(string_agg(status || ':' || n, ',' ORDER BY status), '')
          FROM (SELECT status, COUNT(*) AS n FROM wallets_transaction t
                 WHERE t.wallet_id = w.id GROUP BY status) s),
       (SELECT COALESCE(string_agg(id || ':' || status || ':' || reserved_minor, ','
                                   ORDER BY id), '')
          FROM wallets_gamesession g WHERE g.wallet_id = w.id)
  FROM wallets_wallet w WHERE w.id = %s
"""
SNAPSHOT_FIELDS = ("balance", "reserved", "rows", "newest row", "rows per status", "sessions")


def wallet_snapshot(wallet_id: int) -> tuple:
    rows = _rows(_SNAPSHOT_SQL, [wallet_id])
    return rows[0] if rows else ()


def snapshot_difference(before: tuple, after: tuple) -> str:
    """'' when equal, else what changed ("balance 1000 -> 900, rows 3 -> 4")."""
    if before == after:
        return ""
    if not before or not after:
        return f"wallet {'appeared' if after else 'disappeared'}"
    return ", ".join(
        f"{name} {old} -> {new}"
        for name, old, new in zip(SNAPSHOT_FIELDS, before, after, strict=True)
        if old != new
    )
