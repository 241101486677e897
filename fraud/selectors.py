"""Reads of the fraud app: the review queue's figures and a player's context on one page."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from fraud.choices import (
    UNDECIDED_STATUSES,
    CaseKind,
    CaseLevel,
    CaseOutcome,
    CaseQueue,
    SlaState,
)
from fraud.models import Case, PlayerRisk, RuleHit, RuleSnooze
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
    snoozes: list


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
        snoozes=list(
            RuleSnooze.objects.filter(player=player)
            .select_related("created_by", "lifted_by")
            .order_by("-created_at")[:CONTEXT_ROWS]
        ),
    )


# --- the case manager -----------------------------------------------------------------------

SLA_WARNING_SHARE = 0.75


def queue_cases(queue: str):
    """Undecided cases of one queue: a kind's level-1 cases, or every escalated case."""
    undecided = Case.objects.filter(status__in=UNDECIDED_STATUSES)
    if queue == CaseQueue.ESCALATED:
        return undecided.filter(level=CaseLevel.SECOND)
    return undecided.filter(level=CaseLevel.FIRST, kind=queue)


def sla_seconds(kind: str) -> int:
    """How long a case of this kind may wait (settings.FRAUD_CASE_SLA_MINUTES)."""
    minutes = settings.FRAUD_CASE_SLA_MINUTES.get(kind) or 24 * 60
    return int(minutes) * 60


def sla_state(*, kind: str, age_seconds: float) -> str:
    """ok below 75 % of the kind's SLA, warning up to it, breached beyond it."""
    limit = sla_seconds(kind)
    if age_seconds > limit:
        return SlaState.BREACHED
    if age_seconds >= SLA_WARNING_SHARE * limit:
        return SlaState.WARNING
    return SlaState.OK


def case_age_seconds(case: Case, *, now=None) -> float:
    """Waiting time: up to the decision for a decided case, up to now otherwise."""
    end = case.decided_at or now or timezone.now()
    return max(0.0, (end - case.created_at).total_seconds())


def case_sla_state(case: Case, *, now=None) -> str:
    return sla_state(kind=case.kind, age_seconds=case_age_seconds(case, now=now))


@dataclass(frozen=True)
class QueueFigures:
    queue: str
    label: str
    undecided: int
    unclaimed: int
    mine: int
    oldest_unclaimed_seconds: float | None
    breached: int
    sla_state: str | None  # of the oldest unclaimed case
    may_work: bool


def queue_overview(user, *, now=None) -> list[QueueFigures]:
    """Per queue: undecided and unclaimed cases, the user's own, the oldest unclaimed one's age
    and SLA state, how many are past their SLA. One grouped query."""
    now = now or timezone.now()
    level2 = user.has_perm("fraud.decide_escalated_case")
    rows = (
        Case.objects.filter(status__in=UNDECIDED_STATUSES)
        .values("kind", "level")
        .annotate(
            undecided=Count("id"),
            unclaimed=Count("id", filter=Q(assigned_to__isnull=True)),
            mine=Count("id", filter=Q(assigned_to=user.pk)),
            oldest=Min("created_at", filter=Q(assigned_to__isnull=True)),
        )
    )
    grouped = {(row["kind"], row["level"]): row for row in rows}
    breached = {
        queue: queue_cases(queue)
        .filter(
            Q(kind=CaseKind.HOLD, created_at__lt=now - timedelta(seconds=sla_seconds("hold")))
            | Q(
                kind=CaseKind.DECLINE,
                created_at__lt=now - timedelta(seconds=sla_seconds("decline")),
            )
            | Q(kind=CaseKind.FLAG, created_at__lt=now - timedelta(seconds=sla_seconds("flag")))
        )
        .count()
        for queue in CaseQueue.values
    }
    figures = []
    for queue, label in CaseQueue.choices:
        if queue == CaseQueue.ESCALATED:
            parts = [row for (kind, level), row in grouped.items() if level == CaseLevel.SECOND]
        else:
            parts = (
                [grouped[(queue, CaseLevel.FIRST)]] if (queue, CaseLevel.FIRST) in grouped else []
            )
        oldest_rows = [(row["oldest"], row["kind"]) for row in parts if row["oldest"]]
        oldest_at, oldest_kind = min(oldest_rows) if oldest_rows else (None, None)
        age = (now - oldest_at).total_seconds() if oldest_at else None
        figures.append(
            QueueFigures(
                queue=queue,
                label=label,
                undecided=sum(row["undecided"] for row in parts),
                unclaimed=sum(row["unclaimed"] for row in parts),
                mine=sum(row["mine"] for row in parts),
                oldest_unclaimed_seconds=age,
                breached=breached[queue],
                sla_state=sla_state(kind=oldest_kind, age_seconds=age) if age is not None else None,
                may_work=level2
                if queue == CaseQueue.ESCALATED
                else user.has_perm("fraud.decide_case"),
            )
        )
    return figures


def active_snoozes(*, player_ids=None, rule_key: str | None = None, now=None):
    """Snoozes in force (not lifted, not past `until`)."""
    snoozes = RuleSnooze.objects.filter(lifted_at__isnull=True, until__gt=now or timezone.now())
    if player_ids is not None:
        snoozes = snoozes.filter(player_id__in=list(player_ids))
    if rule_key is not None:
        snoozes = snoozes.filter(rule_key=rule_key)
    return snoozes


def snoozed_player_ids(rule_key: str, player_ids) -> set[int]:
    """Of `player_ids`, those exempt from `rule_key` now (the pattern jobs skip them)."""
    return set(
        active_snoozes(player_ids=player_ids, rule_key=rule_key).values_list("player_id", flat=True)
    )


# --- outcome labels -------------------------------------------------------------------------

CONFIRMED_FRAUD = "confirmed_fraud"
FALSE_POSITIVE = "false_positive"


def case_labels(*, since, until) -> dict[int, str]:
    """THE place where the outcome labels of fraud cases are read for backtests' precision and
    recall: {player id: "confirmed_fraud" | "false_positive"} for the players with a case opened
    in [since, until] that staff labelled (Case.outcome, set with every decision).

    For a rule's precision a hit is either fraud or not: a case labelled false positive or
    legitimate (unusual, explained) counts as not fraud ("false_positive" here); a player with
    both kinds of case counts as confirmed fraud."""
    labels: dict[int, str] = {}
    rows = (
        Case.objects.filter(created_at__gte=since, created_at__lte=until)
        .exclude(outcome="")
        .values_list("player_id", "outcome")
        .order_by()
    )
    for player_id, outcome in rows:
        if outcome == CaseOutcome.CONFIRMED_FRAUD:
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
    from django.db.models import Count, F, Q

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
    # The live version each call was compared against (it changes when a draft is published
    # while the shadow runs; null: the rule was disabled, or recorded before this was kept).
    by_live = (
        ShadowDecision.objects.filter(
            version_id=version_id, created_at__gte=since, created_at__lt=until
        )
        .values("live_version_id", "live_version__number")
        .annotate(
            calls=Count("id"),
            agree=Count("id", filter=Q(live_action=F("shadow_action"))),
        )
        .order_by("live_version__number")
    )
    by_live_version = [
        {
            "live_version_id": row["live_version_id"],
            "live_version": row["live_version__number"],
            "calls": row["calls"],
            "agree": row["agree"],
            "disagree": row["calls"] - row["agree"],
        }
        for row in by_live
    ]
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
        "by_live_version": by_live_version,
    }
