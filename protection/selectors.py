"""Reads of the protection app: a player's limits as the API and the admin show them, their
exclusions, and the reality-check figures of their open sessions."""

import datetime
from dataclasses import dataclass

from django.db.models import Q, Sum
from django.utils import timezone

from protection.choices import MONEY_KINDS, LimitKind
from protection.models import Exclusion, PlayerLimit
from wallets.choices import SessionStatus, TransactionKind
from wallets.models import GameSession, Player, Transaction, Wallet
from wallets.models.players import LIMIT_COLUMNS


def money_limits(player: Player) -> list[PlayerLimit]:
    return list(
        PlayerLimit.objects.filter(player=player, kind__in=MONEY_KINDS).order_by(
            "currency", "kind", "period"
        )
    )


def session_limit(player: Player) -> PlayerLimit | None:
    return PlayerLimit.objects.filter(player=player, kind=LimitKind.SESSION).first()


def counted_figures(player: Player) -> list[dict]:
    """Per wallet with limits: what was counted against them in the current periods (the
    figures the money path checks), rolled to now."""
    today = timezone.now().astimezone(datetime.UTC).date()
    rows = []
    for wallet in Wallet.objects.filter(player=player, limits_counted_on__isnull=False):
        counted_on = wallet.limits_counted_on
        same = {
            "day": counted_on == today,
            "week": counted_on.isocalendar()[:2] == today.isocalendar()[:2],
            "month": (counted_on.year, counted_on.month) == (today.year, today.month),
        }
        for (kind, period), (_, column) in LIMIT_COLUMNS.items():
            rows.append(
                {
                    "currency": wallet.currency,
                    "kind": kind,
                    "period": period,
                    "counted_minor": getattr(wallet, column) if same[period] else 0,
                }
            )
    return rows


def exclusions(player: Player):
    return Exclusion.objects.filter(player=player)


def active_exclusion(player: Player, now=None) -> Exclusion | None:
    now = now or timezone.now()
    return (
        Exclusion.objects.filter(player=player, starts_at__lte=now)
        .filter(Q(until__isnull=True) | Q(until__gt=now))
        .order_by("until")
        .last()
    )


@dataclass(frozen=True)
class SessionReality:
    session: GameSession
    duration: datetime.timedelta
    staked_minor: int
    won_minor: int

    @property
    def net_result_minor(self) -> int:
        """What the player is up (positive) or down (negative) in this session."""
        return self.won_minor - self.staked_minor


def reality_check(player: Player, now=None) -> list[SessionReality]:
    """Each open session of the player: how long it has lasted since its launch and its net
    result (wins - stakes, rolled-back stakes and reversed wins left out)."""
    now = now or timezone.now()
    sessions = list(
        GameSession.objects.filter(player=player, status=SessionStatus.OPEN)
        .select_related("provider")
        .order_by("created_at")
    )
    totals = {
        row["session_id"]: row
        for row in Transaction.objects.filter(
            session__in=sessions,
            kind__in=[TransactionKind.BET, TransactionKind.WIN],
            status__in=["posted", "held"],
        )
        .values("session_id")
        .annotate(
            staked=Sum("amount_minor", filter=Q(kind=TransactionKind.BET)),
            won=Sum("amount_minor", filter=Q(kind=TransactionKind.WIN)),
        )
    }
    return [
        SessionReality(
            session=session,
            duration=now - session.created_at,
            staked_minor=(totals.get(session.pk) or {}).get("staked") or 0,
            won_minor=(totals.get(session.pk) or {}).get("won") or 0,
        )
        for session in sessions
    ]
