"""Reads of the fraud app: the review queue's figures and a player's context on one page."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Min, Q
from django.utils import timezone

from fraud.choices import UNDECIDED_STATUSES, CaseKind, CaseStatus
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


# --- outcome labels -------------------------------------------------------------------------

CONFIRMED_FRAUD = "confirmed_fraud"
FALSE_POSITIVE = "false_positive"


def case_labels(*, since, until) -> dict[int, str]:
    """THE place where the outcome labels of fraud cases are read (backtests' precision and
    recall, rule statistics): {player id: "confirmed_fraud" | "false_positive"} for the players
    with a case opened in [since, until] that staff decided.

    Today a rejected case is confirmed fraud and an approved one a false positive; a player with
    both counts as confirmed fraud. When cases carry an explicit outcome label, this function
    switches to it (and only this one)."""
    labels: dict[int, str] = {}
    rows = (
        Case.objects.filter(
            created_at__gte=since,
            created_at__lte=until,
            status__in=[CaseStatus.REJECTED, CaseStatus.APPROVED],
        )
        .values_list("player_id", "status")
        .order_by()
    )
    for player_id, status in rows:
        if status == CaseStatus.REJECTED:
            labels[player_id] = CONFIRMED_FRAUD
        else:
            labels.setdefault(player_id, FALSE_POSITIVE)
    return labels


def confirmed_fraud_subjects(*, since, until) -> set[int]:
    """Players whose cases in [since, until] were confirmed as fraud (see case_labels)."""
    return {
        pid
        for pid, label in case_labels(since=since, until=until).items()
        if label == CONFIRMED_FRAUD
    }


def shadow_comparison(*, version_id: int, since, until) -> dict:
    """Live and shadow decisions of one shadow version over [since, until): how many calls
    each would have hit, where they agree, and the disagreements by (live, shadow) action."""
    from django.db.models import Count

    from fraud.models import ShadowDecision

    rows = (
        ShadowDecision.objects.filter(
            version_id=version_id, created_at__gte=since, created_at__lt=until
        )
        .values("request_kind", "live_action", "shadow_action")
        .annotate(calls=Count("id"))
        .order_by("request_kind", "live_action", "shadow_action")
    )
    table = [dict(row) for row in rows]
    total = sum(row["calls"] for row in table)
    agree = sum(row["calls"] for row in table if row["live_action"] == row["shadow_action"])
    return {
        "version": version_id,
        "since": since,
        "until": until,
        "calls": total,
        "agree": agree,
        "disagree": total - agree,
        "live_hits": sum(row["calls"] for row in table if row["live_action"] != "allow"),
        "shadow_hits": sum(row["calls"] for row in table if row["shadow_action"] != "allow"),
        "only_live": sum(
            row["calls"]
            for row in table
            if row["live_action"] != "allow" and row["shadow_action"] == "allow"
        ),
        "only_shadow": sum(
            row["calls"]
            for row in table
            if row["shadow_action"] != "allow" and row["live_action"] == "allow"
        ),
        "breakdown": table,
    }
