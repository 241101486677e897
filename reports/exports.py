"""CSV of the reports: money as decimal text with its currency, and the exact minor units."""

import csv
import io

from reports.selectors import GgrRow, Statement, WalletStatement
from wallets.money import format_amount

GGR_MONEY = [
    ("stakes", "stakes_minor"),
    ("refunds", "refunds_minor"),
    ("wins", "wins_minor"),
    ("ggr", "ggr_minor"),
    ("promo_credits", "promo_credits_minor"),
    ("free_round_credits", "free_round_minor"),
    ("promotion_credits", "promo_minor"),
    ("jackpot_credits", "jackpot_minor"),
    ("reward_credits", "reward_minor"),
    ("resettlements", "resettlements_minor"),
    ("ngr", "ngr_minor"),
]


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ would be run as a formula by a spreadsheet; numbers are safe.
    if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def ggr_csv(rows: list[GgrRow], group: tuple[str, ...]) -> str:
    period = "month" if "month" in group else "day" if "day" in group else None
    header = ["provider", "game", "currency"] + ([period] if period else [])
    header += [name for name, _ in GGR_MONEY] + ["bets", "rounds"]
    header += [minor for _, minor in GGR_MONEY]

    def lines():
        yield header
        for row in rows:
            when = getattr(row, period) if period else None
            line = [row.provider or "", row.game if row.game is not None else "", row.currency]
            if period:
                line.append(when.strftime("%Y-%m") if period == "month" else when.isoformat())
            line += [format_amount(getattr(row, minor), row.currency) for _, minor in GGR_MONEY]
            line += [row.bets, row.rounds]
            line += [getattr(row, minor) for _, minor in GGR_MONEY]
            yield line

    return _csv(lines())


def statement_csv(statement: Statement) -> str:
    def lines():
        yield [
            "provider", "month", "currency", "stakes", "refunds", "wins", "promo_credits", "ggr",
            "fee", "amount_due", "rounds", "ggr_minor", "fee_minor", "amount_due_minor",
            "invoice_reference", "invoice_ggr", "invoice_fee", "invoice_amount_due",
            "differences",
        ]  # fmt: skip
        for line in statement.lines:
            invoice = line.invoice
            c = line.currency
            yield [
                statement.provider.code,
                statement.month.strftime("%Y-%m"),
                c,
                format_amount(line.stakes_minor, c),
                format_amount(line.refunds_minor, c),
                format_amount(line.wins_minor, c),
                format_amount(line.promo_credits_minor, c),
                format_amount(line.ggr_minor, c),
                format_amount(line.fee_minor, c),
                format_amount(line.amount_due_minor, c),
                line.rounds,
                line.ggr_minor,
                line.fee_minor,
                line.amount_due_minor,
                invoice.reference if invoice else "",
                format_amount(invoice.ggr_minor, c) if invoice else "",
                format_amount(invoice.fee_minor, c) if invoice else "",
                format_amount(invoice.amount_due_minor, c) if invoice else "",
                "; ".join(
                    f"{label}: ours {format_amount(ours, c)}, theirs {format_amount(theirs, c)}"
                    for label, ours, theirs, _ in line.differences
                ),
            ]
        for invoice in statement.unmatched_invoices:
            c = invoice.currency
            yield [
                statement.provider.code, statement.month.strftime("%Y-%m"), c,
                "", "", "", "", "0", "0", "0", 0, 0, 0, 0,
                invoice.reference, format_amount(invoice.ggr_minor, c),
                format_amount(invoice.fee_minor, c), format_amount(invoice.amount_due_minor, c),
                "invoiced, but no GGR in this currency",
            ]  # fmt: skip

    return _csv(lines())


def wallet_statement_csv(statement: WalletStatement) -> str:
    c = statement.currency

    def lines():
        yield [
            "at", "transaction_id", "kind", "what", "provider", "reference", "amount",
            "balance_after", "reserved_change", "amount_minor", "balance_after_minor",
        ]  # fmt: skip
        yield [
            statement.start.isoformat(), "", "opening", "opening balance", "", "", "",
            format_amount(statement.opening.balance_minor, c), "", "",
            statement.opening.balance_minor,
        ]  # fmt: skip
        for m in statement.movements:
            yield [
                m.at.isoformat(), m.transaction_id, m.kind, m.what, m.provider, m.reference,
                format_amount(m.balance_effect_minor, c),
                format_amount(m.balance_after_minor, c),
                format_amount(m.reserved_effect_minor, c),
                m.balance_effect_minor, m.balance_after_minor,
            ]  # fmt: skip
        yield [
            statement.end.isoformat(), "", "closing", "closing balance", "", "", "",
            format_amount(statement.closing.balance_minor, c), "", "",
            statement.closing.balance_minor,
        ]  # fmt: skip

    return _csv(lines())
