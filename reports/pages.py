"""The reports' admin pages (staff with the reports permissions): GGR with trend charts, provider
statements (printable, CSV, compared with the provider's invoice), and a player's balance at
an instant with the statement of every movement between two instants."""

from datetime import UTC, datetime, time, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from monitoring import charts
from reports import exports, forms, selectors
from reports.models import RollupState
from wallets.errors import ValidationFailed
from wallets.models import Player, Provider

GGR_REPORT = "reports.view_ggr_report"
BALANCE_HISTORY = "reports.view_balance_history"
PAGE_ROWS = 200  # table rows per page (the totals and the CSV cover every row)
CHART_SERIES = (("GGR", "ggr_minor"), ("stakes", "stakes_minor"), ("wins", "wins_minor"))


TABLE_FIGURES = (
    "stakes_minor",
    "refunds_minor",
    "wins_minor",
    "ggr_minor",
    "free_round_minor",
    "promo_minor",
    "jackpot_minor",
    "reward_minor",
    "ngr_minor",
)


def _table_rows(rows, *, period: str, by: str, total: bool = False) -> SafeString:
    """The GGR table's rows as HTML, built here: a template loop rendering each of a few
    thousand cells costs more than the rest of the page (every text is escaped)."""
    lines = []
    for row in rows:
        if total:
            when = "total"
        elif period == "month":
            when = row.month.strftime("%Y-%m")
        else:
            when = row.day.isoformat()
        cells = [escape(when)]
        if by != "currency":
            cells.append("" if total else escape(row.provider or ""))
        if by == "game":
            cells.append("" if total else escape(row.game or "—"))
        cells.append(escape(row.currency))
        html = "".join(f"<td>{cell}</td>" for cell in cells)
        for name in TABLE_FIGURES:
            value = getattr(row, name)
            negative = " negative" if value < 0 and name in ("ggr_minor", "ngr_minor") else ""
            html += f'<td class="num{negative}">{escape(selectors.human(value, row.currency))}</td>'
        html += f'<td class="num">{row.rounds}</td>'
        lines.append(f'<tr class="total">{html}</tr>' if total else f"<tr>{html}</tr>")
    return mark_safe("".join(lines))  # noqa: S308 - every text above is escaped


def _without(query, name: str) -> str:
    query = query.copy()
    query.pop(name, None)
    return query.urlencode()


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _context(request, title: str, **extra) -> dict:
    return {**admin.site.each_context(request), "title": title, **extra}


def _charts(rows: list[selectors.GgrRow], start, end, period: str) -> list[dict]:
    """One trend chart per currency: GGR, stakes and wins per day (or month), in major units."""
    result = []
    for currency, currency_rows in sorted(selectors.group_by_currency(rows).items()):
        scale = 10 ** selectors.currency_exponent(currency)
        if period == "month":
            keys, key = [], start.replace(day=1)
            while key <= end:
                keys.append(key)
                key = (key + timedelta(days=32)).replace(day=1)
        else:
            keys = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        by_key = {getattr(r, period): r for r in currency_rows}
        times = [datetime.combine(k, time(0), tzinfo=UTC) for k in keys]
        series = [
            (
                f"{label} ({currency})",
                [(getattr(by_key[k], attr) / scale) if k in by_key else 0.0 for k in keys],
            )
            for label, attr in CHART_SERIES
        ]
        svg = charts.line_chart(
            times=times,
            series=series,
            unit="",
            time_format="%Y-%m" if period == "month" else "%Y-%m-%d",
        )
        result.append({"currency": currency, "svg": svg})
    return result


def ggr_page(request):
    _require(request, GGR_REPORT)
    error = None
    period = "month" if request.GET.get("period") == "month" else "day"
    by_provider = request.GET.get("by", "provider") in ("provider", "game")
    by_game = request.GET.get("by") == "game"
    provider_code = request.GET.get("provider") or None
    currency = (request.GET.get("currency") or "").upper() or None
    try:
        start, end = forms.parse_period(request.GET.get("from"), request.GET.get("to"))
    except ValidationFailed as exc:
        error = exc.message
        start, end = forms.parse_period(None, None)
    group = (
        ("currency", period)
        + (("provider",) if by_provider else ())
        + (("game",) if by_game else ())
    )
    filters = {
        "provider_codes": [provider_code] if provider_code else None,
        "currencies_": [currency] if currency else None,
    }
    if request.GET.get("format") == "csv":
        rows = selectors.ggr_rows(start=start, end=end, group=group, **filters)
        response = HttpResponse(
            exports.ggr_csv(rows, group), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="ggr-{start}-{end}.csv"'
        return response
    rows = selectors.ggr_rows(start=start, end=end, group=group, **filters)
    by_label = "game" if by_game else "provider" if by_provider else "currency"
    page = Paginator(rows, PAGE_ROWS).get_page(request.GET.get("page"))
    trend = selectors.ggr_rows(start=start, end=end, group=("currency", period), **filters)
    state = RollupState.objects.filter(name="ggr").first()
    query = request.GET.copy()
    query["format"] = "csv"
    return TemplateResponse(
        request,
        "admin/reports/ggr.html",
        _context(
            request,
            "Gross gaming revenue",
            error=error,
            rows=page.object_list,
            table_rows=_table_rows(page.object_list, period=period, by=by_label),
            total_rows=_table_rows(
                selectors.totals_by_currency(rows), period=period, by=by_label, total=True
            ),
            page=page,
            page_query=_without(request.GET, "page"),
            charts=_charts(trend, start, end, period),
            start=start,
            end=end,
            period=period,
            by=by_label,
            provider_code=provider_code or "",
            currency=currency or "",
            providers=Provider.objects.order_by("code").values_list("code", flat=True),
            state=state,
            csv_query=query.urlencode(),
        ),
    )


def statement_page(request):
    _require(request, GGR_REPORT)
    providers = Provider.objects.order_by("code")
    code = request.GET.get("provider")
    error, statement = None, None
    try:
        month = forms.parse_month(request.GET.get("month"))
    except ValidationFailed as exc:
        error = exc.message
        month = forms.parse_month(None)
    provider = providers.filter(code=code).first() if code else None
    if code and provider is None:
        error = f"no provider {code!r}"
    if provider is not None:
        statement = selectors.provider_statement(provider, month)
        if request.GET.get("format") == "csv":
            response = HttpResponse(
                exports.statement_csv(statement), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = (
                f'attachment; filename="statement-{provider.code}-{month:%Y-%m}.csv"'
            )
            return response
    return TemplateResponse(
        request,
        "admin/reports/statement.html",
        _context(
            request,
            f"Provider statement {provider.code} {month:%Y-%m}"
            if provider
            else "Provider statements",
            providers=providers,
            provider=provider,
            month=month,
            statement=statement,
            error=error,
            printable=request.GET.get("print") == "1",
        ),
    )


def player_page(request, player_id: int):
    _require(request, BALANCE_HISTORY)
    player = get_object_or_404(Player, pk=player_id)
    wallets = list(player.wallets.order_by("currency"))
    errors = {}
    now = timezone.now()

    def instant(name, default):
        raw = request.GET.get(name)
        if not raw:
            return default
        try:
            return forms.parse_instant(raw, name)
        except ValidationFailed as exc:
            errors[name] = exc.message
            return default

    at = instant("at", now)
    start = instant("from", now - timedelta(days=1))
    end = instant("to", now)
    if start > end:
        errors["from"] = "from must not be after to"
        start, end = end, start
    currency = (request.GET.get("currency") or (wallets[0].currency if wallets else "")).upper()
    wallet = next((w for w in wallets if w.currency == currency), None)
    statement = selectors.wallet_statement(wallet, start, end) if wallet else None
    if statement and request.GET.get("format") == "csv":
        response = HttpResponse(
            exports.wallet_statement_csv(statement), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="statement-{player.pk}-{currency}.csv"'
        )
        return response
    balances = selectors.player_at(player, at)
    query = request.GET.copy()
    query["format"] = "csv"
    return TemplateResponse(
        request,
        "admin/reports/player.html",
        _context(
            request,
            f"Balance history of {player.external_id}",
            player=player,
            wallets=wallets,
            at=at,
            balances=[
                {
                    "currency": b.currency,
                    "balance": selectors.human(b.balance_minor, b.currency),
                    "reserved": selectors.human(b.reserved_minor, b.currency),
                    "available": selectors.human(b.available_minor, b.currency),
                }
                for b in balances
            ],
            start=start,
            end=end,
            currency=currency,
            statement=statement,
            movements=[
                {
                    "m": m,
                    "amount": selectors.human(m.balance_effect_minor, statement.currency),
                    "reserved": selectors.human(m.reserved_effect_minor, statement.currency)
                    if m.reserved_effect_minor
                    else "",
                    "after": selectors.human(m.balance_after_minor, statement.currency),
                }
                for m in (statement.movements if statement else [])
            ],
            opening=selectors.human(statement.opening.balance_minor, currency) if statement else "",
            closing=selectors.human(statement.closing.balance_minor, currency) if statement else "",
            errors=errors,
            csv_query=query.urlencode(),
        ),
    )


urlpatterns = [
    path("ggr/", admin.site.admin_view(ggr_page), name="reports-ggr"),
    path("statements/", admin.site.admin_view(statement_page), name="reports-statement"),
    path("players/<int:player_id>/", admin.site.admin_view(player_page), name="reports-player"),
]
