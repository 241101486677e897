"""The protection endpoints: parse, call one service (or selector), render."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from protection import selectors, services
from protection.api import serializers as s
from protection.api.permissions import MethodPermissions
from protection.choices import LimitKind
from wallets.models import Player
from wallets.money import parse_amount

VIEW = ["protection.view_playerlimit"]
CHANGE = ["protection.change_playerlimit"]


def _limits_response(player: Player, status_code=status.HTTP_200_OK) -> Response:
    body = s.limits_body(
        player,
        selectors.money_limits(player),
        selectors.session_limit(player),
        selectors.counted_figures(player),
        services.cooling_off_for(player).total_seconds() / 3600,
    )
    return Response(body, status=status_code)


class _PlayerView(APIView):
    permission_classes = [MethodPermissions]

    def player(self, player_id: int) -> Player:
        return get_object_or_404(Player, pk=player_id)


class PlayerLimitsView(_PlayerView):
    """A player's deposit, loss and wager limits (per period and currency) and session-time
    limit, with what is pending and what was counted in each current period."""

    permissions_by_method = {"GET": VIEW, "PUT": CHANGE}

    @extend_schema(responses={200: s.LimitsSerializer})
    def get(self, request, player_id: int):
        player = self.player(player_id)
        services.apply_due_limit_changes(player=player)
        return _limits_response(player)

    @extend_schema(request=s.LimitChangeSerializer, responses={200: s.LimitsSerializer})
    def put(self, request, player_id: int):
        player = self.player(player_id)
        params = s.LimitChangeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        amount = data["amount"]
        services.set_limit(
            player=player,
            kind=data["kind"],
            period=data["period"],
            currency=data["currency"],
            amount=None if amount is None else parse_amount(amount, data["currency"]).minor,
            reason=data["reason"],
            actor=request.user,
            may_raise=request.user.has_perm("protection.raise_limit"),
        )
        return _limits_response(player)


class PlayerSessionLimitView(_PlayerView):
    """The session-time limit (minutes from a game launch). Lower: at once; higher or
    removed: after the cooling-off."""

    permissions_by_method = {"PUT": CHANGE}

    @extend_schema(request=s.SessionLimitChangeSerializer, responses={200: s.LimitsSerializer})
    def put(self, request, player_id: int):
        player = self.player(player_id)
        params = s.SessionLimitChangeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.set_limit(
            player=player,
            kind=LimitKind.SESSION,
            amount=params.validated_data["minutes"],
            reason=params.validated_data["reason"],
            actor=request.user,
            may_raise=request.user.has_perm("protection.raise_limit"),
        )
        return _limits_response(player)


class PlayerExclusionsView(_PlayerView):
    """A player's time-outs and self-exclusions (newest first); POST adds one."""

    permissions_by_method = {
        "GET": ["protection.view_exclusion"],
        "POST": ["protection.add_exclusion"],
    }

    @extend_schema(responses={200: s.ExclusionSerializer(many=True)})
    def get(self, request, player_id: int):
        player = self.player(player_id)
        paginator = self.paginator
        page = paginator.paginate_queryset(selectors.exclusions(player), request, view=self)
        body = s.ExclusionSerializer(page, many=True, context={"now": timezone.now()}).data
        return paginator.get_paginated_response(body)

    @extend_schema(request=s.ExclusionCreateSerializer, responses={201: s.ExclusionSerializer})
    def post(self, request, player_id: int):
        player = self.player(player_id)
        params = s.ExclusionCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        exclusion = services.exclude_player(
            player=player, actor=request.user, **params.validated_data
        )
        body = s.ExclusionSerializer(exclusion, context={"now": timezone.now()}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            from rest_framework.settings import api_settings

            self._paginator = api_settings.DEFAULT_PAGINATION_CLASS()
        return self._paginator


class PlayerRealityCheckView(_PlayerView):
    """Reality-check figures for the player's open sessions: how long each has lasted and its
    net result (wins - stakes), with what is left of the session-time limit."""

    permissions_by_method = {"GET": VIEW}

    @extend_schema(responses={200: s.RealityCheckSerializer})
    def get(self, request, player_id: int):
        player = self.player(player_id)
        now = timezone.now()
        session = selectors.session_limit(player)
        body = s.reality_body(
            player,
            now,
            session.amount if session else None,
            selectors.reality_check(player, now),
        )
        return Response(body)
