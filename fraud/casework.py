"""Writes of the case manager: claim and release, "next case" per queue, the notes thread,
escalation to level 2, and rule snoozes. Decisions are fraud.services.approve_case /
reject_case (money moves only through wallets.ledger there). Every change that alters who
works a case, its level, or what the screener does is audited in the same transaction.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from fraud import selectors
from fraud.choices import MAX_SNOOZE_DAYS, CaseLevel, CaseQueue, RuleKind
from fraud.errors import CaseForbidden
from fraud.models import Case, CaseNote, RuleSnooze
from fraud.services import check_case_level
from wallets import services as wallet_services
from wallets.errors import NotAllowed, ValidationFailed
from wallets.models import Player

NOTE_MAX_CHARS = 4000
REASON_MAX_CHARS = 1000


def _reason(text, *, field: str = "reason", what: str = "a reason") -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed(f"{what} is required", field=field)
    text = text.strip()
    if len(text) > REASON_MAX_CHARS:
        raise ValidationFailed(f"at most {REASON_MAX_CHARS} characters", field=field)
    return text


def _may_decide(actor) -> None:
    if not actor.has_perm("fraud.decide_case"):
        raise CaseForbidden("you may not work on fraud cases")


def _locked_undecided(case_id: int) -> Case:
    case = (
        Case.objects.select_for_update(of=("self",)).select_related("assigned_to").get(pk=case_id)
    )
    if not case.undecided:
        raise NotAllowed(f"case is already {case.status}")
    return case


def _assign(case: Case, actor, assignee, action: str) -> Case:
    before = {"assigned_to": case.assigned_to_id}
    case.assigned_to = assignee
    case.assigned_at = timezone.now() if assignee is not None else None
    case.save(update_fields=["assigned_to", "assigned_at"])
    wallet_services.record_audit(
        actor=actor,
        action=action,
        target=case,
        before=before,
        after={"assigned_to": case.assigned_to_id},
    )
    return case


def claim_case(*, case_id: int, actor) -> Case:
    """Take an undecided case to work on. Claiming a case one already holds changes nothing;
    one claimed by someone else is refused (NOT_ALLOWED: they release it, or a lead reassigns
    it). Escalated cases need the level-2 permission (FORBIDDEN). Audited."""
    _may_decide(actor)
    with transaction.atomic():
        case = _locked_undecided(case_id)
        check_case_level(actor, case)
        if case.assigned_to_id == actor.pk:
            return case
        if case.assigned_to_id is not None:
            raise NotAllowed(
                f"case is claimed by {case.assigned_to.get_username()}", field="assigned_to"
            )
        return _assign(case, actor, actor, "fraud.case.claim")


def release_case(*, case_id: int, actor) -> Case:
    """Give a claimed case back to its queue: by the one holding it, or by a user who may
    assign cases; an unclaimed case is refused (NOT_ALLOWED). Audited."""
    with transaction.atomic():
        case = _locked_undecided(case_id)
        if case.assigned_to_id is None:
            raise NotAllowed("case is not claimed by anybody")
        if case.assigned_to_id != actor.pk and not actor.has_perm("fraud.assign_case"):
            raise CaseForbidden("only the reviewer holding the case, or a lead, may release it")
        return _assign(case, actor, None, "fraud.case.release")


def next_case(*, queue: str, actor) -> Case | None:
    """Claim the oldest unclaimed case of `queue` that `actor` may decide, atomically: the
    candidate rows are locked with SKIP LOCKED, so reviewers pressing "next" at the same moment
    each get a different case (or None when the queue is empty for them), never the same one.
    A case awaiting a second approval is never offered to its first approver. The escalated
    queue needs the level-2 permission. Audited as a claim."""
    if queue not in CaseQueue.values:
        raise ValidationFailed(
            f"unknown queue {queue!r}; one of: {', '.join(CaseQueue.values)}", field="queue"
        )
    _may_decide(actor)
    if queue == CaseQueue.ESCALATED and not actor.has_perm("fraud.decide_escalated_case"):
        raise CaseForbidden("the escalated queue is for level-2 reviewers")
    with transaction.atomic():
        case = (
            selectors.queue_cases(queue)
            .filter(assigned_to__isnull=True)
            .exclude(first_approved_by=actor)
            .order_by("created_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if case is None:
            return None
        return _assign(case, actor, actor, "fraud.case.claim")


def add_note(*, case_id: int, actor, body: str) -> CaseNote:
    """Append a note to a case's thread (decided cases too: what was learned later belongs
    there). Notes are never edited or deleted."""
    if not isinstance(body, str) or not body.strip():
        raise ValidationFailed("a note needs some text", field="body")
    body = body.strip()
    if len(body) > NOTE_MAX_CHARS:
        raise ValidationFailed(f"a note has at most {NOTE_MAX_CHARS} characters", field="body")
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise ValidationFailed(f"no case {case_id}", field="case")
    return CaseNote.objects.create(case=case, author=actor, body=body)


def escalate_case(*, case_id: int, actor, reason: str) -> Case:
    """Send an undecided level-1 case to level 2: it leaves the level-1 queues and its claim is
    released; only level-2 reviewers claim and decide it from then on. The reason is kept on the
    case and as a note. Audited."""
    reason = _reason(reason)
    _may_decide(actor)
    with transaction.atomic():
        case = _locked_undecided(case_id)
        if case.level == CaseLevel.SECOND:
            raise NotAllowed("case is already escalated")
        before = {"level": case.level, "assigned_to": case.assigned_to_id}
        case.level = CaseLevel.SECOND
        case.escalated_by = actor
        case.escalated_at = timezone.now()
        case.escalation_reason = reason
        case.assigned_to = None
        case.assigned_at = None
        case.save(
            update_fields=[
                "level",
                "escalated_by",
                "escalated_at",
                "escalation_reason",
                "assigned_to",
                "assigned_at",
            ]
        )
        CaseNote.objects.create(case=case, author=actor, body=f"Escalated to level 2: {reason}")
        wallet_services.record_audit(
            actor=actor,
            action="fraud.case.escalate",
            target=case,
            reason=reason,
            before=before,
            after={"level": case.level, "assigned_to": None},
        )
    return case


# --- snoozes --------------------------------------------------------------------------------


def snooze_rule(
    *,
    player: Player,
    rule_key: str,
    reason: str,
    actor,
    days: int | None = None,
    until: datetime | None = None,
    case: Case | None = None,
    now: datetime | None = None,
) -> RuleSnooze:
    """Exempt `player` from one rule until `until` (or for `days`), at most MAX_SNOOZE_DAYS
    ahead. The real-time screener skips the rule for the player (read in its one query) and
    the pattern jobs skip the player for that rule; the snooze ends by itself at `until`. An
    active snooze of the same rule for the player is replaced (lifted, and the new one
    recorded). From a case, the rule must be one that fired on it. Audited."""
    if rule_key not in RuleKind.values:
        raise ValidationFailed(
            f"unknown rule {rule_key!r}; one of: {', '.join(RuleKind.values)}", field="rule"
        )
    reason = _reason(reason)
    now = now or timezone.now()
    latest = now + timedelta(days=MAX_SNOOZE_DAYS)
    if (days is None) == (until is None):
        raise ValidationFailed("give either days or until", field="days")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_SNOOZE_DAYS:
            raise ValidationFailed(
                f"days must be a whole number from 1 to {MAX_SNOOZE_DAYS}", field="days"
            )
        until = now + timedelta(days=days)
    elif timezone.is_naive(until):
        raise ValidationFailed("until needs a time zone (e.g. ...Z)", field="until")
    if until <= now:
        raise ValidationFailed("until must be in the future", field="until")
    if until > latest:
        raise ValidationFailed(f"a snooze lasts at most {MAX_SNOOZE_DAYS} days", field="until")
    if case is not None:
        if case.player_id != player.pk:
            raise ValidationFailed("the case is about another player", field="player")
        if rule_key not in case.rule_keys:
            raise ValidationFailed(
                f"rule {rule_key!r} did not fire on this case; it fired: "
                + ", ".join(case.rule_keys),
                field="rule",
            )
    with transaction.atomic():
        # One snooze at a time per (player, rule): lock the player's row so two staff setting
        # the same snooze at once serialise.
        Player.objects.select_for_update().filter(pk=player.pk).first()
        replaced = list(
            RuleSnooze.objects.filter(
                player=player, rule_key=rule_key, lifted_at__isnull=True, until__gt=now
            )
        )
        for old in replaced:
            old.lifted_at = now
            old.lifted_by = actor
            old.lift_reason = "replaced by a new snooze"
            old.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
        snooze = RuleSnooze.objects.create(
            player=player,
            rule_key=rule_key,
            starts_at=now,
            until=until,
            reason=reason,
            created_by=actor,
            case=case,
        )
        if case is not None:
            CaseNote.objects.create(
                case=case,
                author=actor,
                body=f"Snoozed {rule_key} for this player until "
                f"{until:%Y-%m-%d %H:%M} UTC: {reason}",
            )
        wallet_services.record_audit(
            actor=actor,
            action="fraud.rule.snooze",
            target=player,
            reason=reason,
            before={"snoozes": [old.pk for old in replaced]},
            after={
                "snooze": snooze.pk,
                "rule": rule_key,
                "until": until.isoformat(),
                "case": case.pk if case else None,
            },
        )
    return snooze


def lift_snooze(*, snooze_id: int, actor, reason: str) -> RuleSnooze:
    """End a snooze before its time (the rule applies to the player again at once). Audited;
    an expired or lifted snooze is refused (NOT_ALLOWED)."""
    reason = _reason(reason)
    with transaction.atomic():
        snooze = RuleSnooze.objects.select_for_update().filter(pk=snooze_id).first()
        if snooze is None:
            raise ValidationFailed(f"no snooze {snooze_id}", field="snooze")
        if not snooze.is_active():
            raise NotAllowed("the snooze has already ended")
        snooze.lifted_at = timezone.now()
        snooze.lifted_by = actor
        snooze.lift_reason = reason
        snooze.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
        wallet_services.record_audit(
            actor=actor,
            action="fraud.rule.unsnooze",
            target=snooze.player,
            reason=reason,
            before={"snooze": snooze.pk, "until": snooze.until.isoformat()},
            after={"lifted_at": snooze.lifted_at.isoformat()},
        )
    return snooze


def relabel_outcome(*, case_id: int, actor, outcome: str, reason: str) -> Case:
    """Change the outcome label of a decided case when more is learned later (a chargeback
    shows an approved case was fraud after all). The decision itself and the money stay as
    they were; the rule statistics count the new label. The change is kept as a note and in
    the audit trail, with the reason. Escalated cases need the level-2 permission."""
    from fraud.choices import CaseOutcome

    if outcome not in CaseOutcome.values:
        raise ValidationFailed(f"unknown outcome {outcome!r}", field="outcome")
    reason = _reason(reason)
    _may_decide(actor)
    with transaction.atomic():
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise ValidationFailed(f"no case {case_id}", field="case")
        if case.undecided:
            raise NotAllowed("the case is not decided yet: decide it with its outcome")
        check_case_level(actor, case)
        if case.outcome == outcome:
            raise NotAllowed(f"the outcome is already {outcome}")
        before = {"outcome": case.outcome}
        case.outcome = outcome
        case.save(update_fields=["outcome"])
        CaseNote.objects.create(
            case=case,
            author=actor,
            body=f"Outcome changed from {before['outcome'] or 'none'} to {outcome}: {reason}",
        )
        wallet_services.record_audit(
            actor=actor,
            action="fraud.case.outcome",
            target=case,
            reason=reason,
            before=before,
            after={"outcome": outcome},
        )
    return case
