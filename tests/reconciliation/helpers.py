"""Helpers for reconciliation tests: ledger rows through wallets.ledger, reports as bytes."""

import csv
import io
import json
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from reconciliation import parsing, services
from tests import factories
from wallets import ledger

HEADER = ["transaction_id", "round_id", "player", "kind", "amount", "currency", "status", "time"]


def play(provider, player, *, bets=(), wins=(), currency="EUR"):
    """Open a session and post bets/wins [(transaction_id, amount_minor)] in round r-<id>."""
    session, _ = factories.open_session(player, provider, currency)
    for txn_id, amount_minor in bets:
        ledger.bet(
            provider=provider, session=session, transaction_id=txn_id,
            round_id=f"r-{txn_id}", amount_minor=amount_minor, currency=currency,
        )  # fmt: skip
    for txn_id, amount_minor in wins:
        ledger.win(
            provider=provider, session=session, transaction_id=txn_id,
            round_id=f"r-{txn_id}", amount_minor=amount_minor, currency=currency,
        )  # fmt: skip
    return session


def age_ledger(seconds: int) -> None:
    """Move every ledger row back in time (created_at is not money; tests only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_transaction SET created_at = created_at - make_interval(secs => %s)",
            [seconds],
        )


def iso(moment) -> str:
    return moment.isoformat()


def ago(seconds: int = 3600) -> str:
    return iso(timezone.now() - timedelta(seconds=seconds))


def row(txn_id, player, kind="bet", amount="1.00", currency="EUR", status="posted", time=None):
    return {
        "transaction_id": txn_id,
        "round_id": f"r-{txn_id}",
        "player": player.external_id if hasattr(player, "external_id") else player,
        "kind": kind,
        "amount": amount,
        "currency": currency,
        "status": status,
        "time": time or ago(),
    }


def csv_bytes(rows, header=HEADER, raw_lines=()) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([r[name] for name in header])
    for line in raw_lines:
        out.write(line + "\n")
    return out.getvalue().encode()


def reconcile_csv(provider, data: bytes, **kwargs):
    return services.reconcile_provider_report(
        provider=provider,
        rows=parsing.iter_csv(io.BytesIO(data)),
        report_format="csv",
        filename="report.csv",
        **kwargs,
    )


def reconcile_rows(provider, rows, **kwargs):
    return services.reconcile_provider_report(
        provider=provider, rows=parsing.iter_objects(rows), report_format="json", **kwargs
    )


def json_bytes(rows) -> bytes:
    return json.dumps(rows).encode()
