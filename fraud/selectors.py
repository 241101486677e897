"""Reads of the fraud app: the review queue's figures and a player's context on one page."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Min, Q
from django.utils import timezone

from fraud.choices import UNDECIDED_STATUSES, CaseKind
from fraud.models import Case, PlayerRisk, RuleHit
from wallets.models import GameSession, Player, Transaction

CONTEXT_ROWS = 50
CONTEXT_IP_WINDOW = timedelta(days=30)


def undecided_holds():
    return Case.objects.filter(kind=CaseKind.HOLD, status__in=UNDECIDED_STATUSES)


def oldest_undecided_hold_seconds(*, now=None) -> float | None:
    """Age in seconds of the oldest hold nobody has decided yet; None when there is none.
    One indexed read (the partial index on undecided cases)."""
    oldest = undecided_holds().order_by("created_at").values_list("created_at", flat=True).first()
    if oldest is None:
        return None
    return max(0.0, ((now or timezone.now()) - oldest).total_seconds())


def oldest_hold_seconds_by_provider(*, now=None) -> dict[int, float]:
    """Metric source `fraud_oldest_hold_seconds`: per provider, the age of its oldest undecided
    hold (held wins and bets). Held payments (deposits, withdrawals) have no provider: they are
    reported under key 0, the platform-wide figure, together with every other hold."""
    now = now or timezone.now()
    rows = (
        undecided_holds()
        .filter(provider__isnull=False)
        .values("provider_id")
        .annotate(oldest=Min("created_at"))
    )
    figures = {row["provider_id"]: (now - row["oldest"]).total_seconds() for row in rows}
    overall = oldest_undecided_hold_seconds(now=now)
    if overall is not None:
        figures[0] = overall
    return figures


@dataclass(frozen=True)
class PlayerContext:
    player: Player
    risk: PlayerRisk | None
    wallets: list
    transactions: list
    sessions: list
    ips: list[str]
    same_ip_players: list[Player]
    hits: list
    cases: list


def player_context(player: Player, *, now=None) -> PlayerContext:
    """Everything a reviewer needs about one player, bounded: the latest transactions, sessions,
    rule hits and cases; the addresses seen (registration and the last 30 days of ledger rows);
    other accounts registered from, or transacting from, those addresses in that window."""
    now = now or timezone.now()
    since = now - CONTEXT_IP_WINDOW
    transactions = list(
        Transaction.objects.filter(player=player)
        .select_related("provider")
        .order_by("-id")[:CONTEXT_ROWS]
    )
    ips = set(
        Transaction.objects.filter(
            player=player, created_at__gte=since, client_ip__isnull=False
        ).values_list("client_ip", flat=True)[:500]
    )
    if player.registration_ip:
        ips.add(player.registration_ip)
    same_ip_players: list[Player] = []
    if ips:
        via_ledger = (
            Transaction.objects.filter(created_at__gte=since, client_ip__in=ips)
            .exclude(player=player)
            .values_list("player_id", flat=True)
            .distinct()[:200]
        )
        same_ip_players = list(
            Player.objects.filter(Q(registration_ip__in=ips) | Q(pk__in=list(via_ledger)))
            .exclude(pk=player.pk)
            .order_by("-id")[:CONTEXT_ROWS]
        )
    return PlayerContext(
        player=player,
        risk=PlayerRisk.objects.filter(player=player).first(),
        wallets=list(player.wallets.all()),
        transactions=transactions,
        sessions=list(
            GameSession.objects.filter(player=player)
            .select_related("provider")
            .order_by("-id")[:20]
        ),
        ips=sorted(ips),
        same_ip_players=same_ip_players,
        hits=list(RuleHit.objects.filter(player=player)[:CONTEXT_ROWS]),
        cases=list(Case.objects.filter(player=player).order_by("-created_at")[:CONTEXT_ROWS]),
    )
