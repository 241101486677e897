"""Back-office API of the reports: validate the query, call one selector, render."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from reports import exports, forms, selectors
from wallets.api.pagination import StaffPagination
from wallets.errors import ValidationFailed
from wallets.models import Player
from wallets.money import format_amount

GGR_REPORT = "reports.view_ggr_report"
BALANCE_HISTORY = "reports.view_balance_history"

ORDERING = {
    "stakes": "stakes_minor",
    "wins": "wins_minor",
    "refunds": "refunds_minor",
    "ggr": "ggr_minor",
    "promo_credits": "promo_credits_minor",
    "rounds": "rounds",
    "provider": "provider",
    "game": "game",
    "currency": "currency",
    "day": "day",
    "month": "month",
}


def _list_param(request, name: str) -> list[str] | None:
    values = [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",")]
    return [v for v in values if v] or None


def ggr_query(request) -> tuple[list[selectors.GgrRow], tuple[str, ...]]:
    start, end = forms.parse_period(
        request.query_params.get("from"), request.query_params.get("to")
    )
    group = forms.parse_group(request.query_params.get("group"))
    rows = selectors.ggr_rows(
        start=start,
        end=end,
        group=group,
        provider_codes=_list_param(request, "provider"),
        games=_list_param(request, "game"),
        currencies_=_list_param(request, "currency"),
    )
    ordering = request.query_params.get("ordering")
    if ordering:
        key = ordering.lstrip("-")
        if key not in ORDERING:
            raise ValidationFailed(
                f"ordering must be one of {', '.join(sorted(ORDERING))} (optionally with -)",
                field="ordering",
            )
        attribute = ORDERING[key]
        rows.sort(
            key=lambda r: (
                (getattr(r, attribute) is None, getattr(r, attribute) or 0)
                if attribute.endswith("minor") or attribute == "rounds"
                else (getattr(r, attribute) is None, str(getattr(r, attribute) or ""))
            ),
            reverse=ordering.startswith("-"),
        )
    return rows, group


def ggr_item(row: selectors.GgrRow, group: tuple[str, ...]) -> dict:
    c = row.currency
    item = {"provider": row.provider, "game": row.game, "currency": c}
    if "day" in group:
        item["day"] = row.day.isoformat()
    if "month" in group:
        item["month"] = row.month.strftime("%Y-%m")
    item.update(
        stakes=format_amount(row.stakes_minor, c),
        wins=format_amount(row.wins_minor, c),
        refunds=format_amount(row.refunds_minor, c),
        promo_credits=format_amount(row.promo_credits_minor, c),
        ggr=format_amount(row.ggr_minor, c),
        rounds=row.rounds,
        # Beyond the fixed fields: the credits by type, re-settlements (part of wins), NGR.
        free_round_credits=format_amount(row.free_round_minor, c),
        promotion_credits=format_amount(row.promo_minor, c),
        jackpot_credits=format_amount(row.jackpot_minor, c),
        reward_credits=format_amount(row.reward_minor, c),
        resettlements=format_amount(row.resettlements_minor, c),
        ngr=format_amount(row.ngr_minor, c),
        bets=row.bets,
    )
    return item


_GGR_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first UTC day (default: 30 days ago)"),
    OpenApiParameter(
        "to", OpenApiTypes.DATE, description="last UTC day, inclusive (default today)"
    ),
    OpenApiParameter(
        "group",
        str,
        description="comma-separated: provider, game, currency, and day or month "
        "(default provider,game,currency,day); money is always per currency",
    ),
    OpenApiParameter("provider", str, description="provider code(s), comma-separated"),
    OpenApiParameter("game", str, description="game id(s), comma-separated"),
    OpenApiParameter("currency", str, description="currency code(s), comma-separated"),
    OpenApiParameter("ordering", str, description="e.g. -ggr, day, provider"),
]

_GGR_ITEMS = inline_serializer(
    "GgrRow",
    many=True,
    fields={
        "provider": serializers.CharField(allow_null=True),
        "game": serializers.CharField(allow_null=True),
        "currency": serializers.CharField(),
        "day": serializers.DateField(required=False),
        "month": serializers.CharField(required=False),
        "stakes": serializers.CharField(),
        "wins": serializers.CharField(),
        "refunds": serializers.CharField(),
        "promo_credits": serializers.CharField(),
        "ggr": serializers.CharField(),
        "rounds": serializers.IntegerField(),
        "free_round_credits": serializers.CharField(),
        "promotion_credits": serializers.CharField(),
        "jackpot_credits": serializers.CharField(),
        "reward_credits": serializers.CharField(),
        "resettlements": serializers.CharField(),
        "ngr": serializers.CharField(),
        "bets": serializers.IntegerField(),
    },
)


class GgrReportView(APIView):
    """Gross gaming revenue from the daily roll-up (docs/reports.md): `stakes` every accepted
    bet, `refunds` their rollbacks, `ggr = stakes - refunds - wins`; promotional credits apart.
    Days are UTC; a round counts on the day it opened."""

    required_permissions = [GGR_REPORT]
    pagination_class = StaffPagination

    @extend_schema(parameters=_GGR_PARAMETERS, responses={200: _GGR_ITEMS})
    def get(self, request):
        rows, group = ggr_query(request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([ggr_item(row, group) for row in page])


class GgrExportView(APIView):
    """The same report as CSV: money as decimal text and as exact minor units."""

    required_permissions = [GGR_REPORT]

    @extend_schema(parameters=_GGR_PARAMETERS, responses={(200, "text/csv"): bytes})
    def get(self, request):
        rows, group = ggr_query(request)
        response = HttpResponse(
            exports.ggr_csv(rows, group), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="ggr.csv"'
        return response


def _player(player_id: str) -> Player:
    if not str(player_id).isdigit() or len(str(player_id)) > 18:
        raise ValidationFailed("player id must be a number", field="id")
    return get_object_or_404(Player, pk=int(player_id))


class BalanceAtView(APIView):
    """A player's wallets as they stood at an instant: balance, reserved (held transactions and
    open buy-ins) and available, exact against the ledger."""

    required_permissions = [BALANCE_HISTORY]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at", OpenApiTypes.DATETIME, required=True, description="ISO-8601; no offset: UTC"
            )
        ],
        responses={
            200: inline_serializer(
                "BalanceAt",
                {
                    "at": serializers.DateTimeField(),
                    "wallets": inline_serializer(
                        "WalletAt",
                        {
                            "currency": serializers.CharField(),
                            "balance": serializers.CharField(),
                            "reserved": serializers.CharField(),
                            "available": serializers.CharField(),
                        },
                        many=True,
                    ),
                },
            )
        },
    )
    def get(self, request, player_id):
        player = _player(player_id)
        at = forms.parse_instant(request.query_params.get("at"))
        wallets = selectors.player_at(player, at)
        return Response(
            {
                "at": at.isoformat().replace("+00:00", "Z"),
                "wallets": [
                    {
                        "currency": w.currency,
                        "balance": format_amount(w.balance_minor, w.currency),
                        "reserved": format_amount(w.reserved_minor, w.currency),
                        "available": format_amount(w.available_minor, w.currency),
                    }
                    for w in wallets
                ],
            }
        )


class PlayerStatementView(APIView):
    """Every movement of one of the player's wallets between two instants, with the running
    balance; `?format=csv` (or Accept: text/csv) for CSV."""

    required_permissions = [BALANCE_HISTORY]

    @extend_schema(
        parameters=[
            OpenApiParameter("currency", str, required=True),
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="default now"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, player_id):
        player = _player(player_id)
        currency = (request.query_params.get("currency") or "").strip().upper()
        wallet = player.wallets.filter(currency=currency).first() if currency else None
        if wallet is None:
            raise ValidationFailed(
                f"currency must be one of the player's wallets "
                f"({', '.join(player.wallets.values_list('currency', flat=True)) or 'none'})",
                field="currency",
            )
        start = forms.parse_instant(request.query_params.get("from"), "from")
        end = forms.parse_instant(request.query_params.get("to"), "to", default_now=True)
        if start > end:
            raise ValidationFailed("from must not be after to", field="from")
        statement = selectors.wallet_statement(wallet, start, end)
        c = wallet.currency
        return Response(
            {
                "currency": c,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "opening": {
                    "balance": format_amount(statement.opening.balance_minor, c),
                    "reserved": format_amount(statement.opening.reserved_minor, c),
                },
                "closing": {
                    "balance": format_amount(statement.closing.balance_minor, c),
                    "reserved": format_amount(statement.closing.reserved_minor, c),
                },
                "truncated": statement.truncated,
                "movements": [
                    {
                        "at": m.at.isoformat(),
                        "transaction_id": m.transaction_id,
                        "kind": m.kind,
                        "what": m.what,
                        "provider": m.provider or None,
                        "reference": m.reference,
                        "amount": format_amount(m.balance_effect_minor, c),
                        "reserved_change": format_amount(m.reserved_effect_minor, c),
                        "balance_after": format_amount(m.balance_after_minor, c),
                    }
                    for m in statement.movements
                ],
            }
        )
