"""Writes of the fraud app: rules, cases (the review queue), decisions, player risk and the
pattern jobs. Money moves only through wallets.ledger (decide_hold); every staff action writes
an audit record in the same transaction as the change it records.
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.utils import timezone

from fraud import rules as rule_kinds
from fraud import selectors
from fraud.choices import (
    ACTION_STRENGTH,
    APPROVE_OUTCOMES,
    APPROVE_REASONS,
    REJECT_OUTCOMES,
    REJECT_REASONS,
    UNDECIDED_STATUSES,
    CaseKind,
    CaseLevel,
    CaseOutcome,
    CaseStatus,
    DecisionReason,
    RuleAction,
    RuleKind,
    VersionState,
    default_outcome,
)
from fraud.errors import CaseForbidden
from fraud.models import (
    Backtest,
    Case,
    FraudList,
    FraudRule,
    ListEntry,
    PlayerRisk,
    RuleHit,
    RuleVersion,
)
from wallets import hooks, ledger
from wallets import services as wallet_services
from wallets.choices import PlayerStatus, TransactionKind, TransactionStatus
from wallets.errors import FourEyesRequired, NotAllowed, ValidationFailed
from wallets.models import Player, Transaction

DEFAULT_RISK_POINTS = 10
PATTERN_BATCH_LIMIT = 1000  # subjects (addresses, players) one pattern run looks at


# --- rules ----------------------------------------------------------------------------------


def ensure_default_rules(rule_model=FraudRule, version_model=None) -> int:
    """Create the seeded rules that do not exist yet, each with its live version 1; never
    changes an existing rule (an operator's edits stay). Returns how many were created."""
    if version_model is None and rule_model is FraudRule:
        version_model = RuleVersion
    created = 0
    for spec in rule_kinds.DEFAULT_RULES:
        rule, was_created = rule_model.objects.get_or_create(
            key=str(spec["key"]),
            defaults={
                "name": spec["name"],
                "action": str(spec["action"]),
                "risk_points": spec["risk_points"],
                "description": spec["description"],
                "parameters": rule_kinds.default_parameters(spec["key"]),
                "enabled": True,
            },
        )
        created += was_created
        if version_model is not None:
            ensure_live_version(rule, version_model=version_model)
    return created


def ensure_live_version(rule, *, version_model=None) -> None:
    """A rule without a live version (seeded before versions existed, or just created) gets
    one copied from its current settings."""
    version_model = version_model or RuleVersion
    if version_model.objects.filter(rule_id=rule.pk, state=VersionState.LIVE).exists():
        return
    number = (
        version_model.objects.filter(rule_id=rule.pk).aggregate(n=Max("number"))["n"] or 0
    ) + 1
    version_model.objects.create(
        rule_id=rule.pk,
        number=number,
        state=VersionState.LIVE,
        action=rule.action,
        parameters=rule.parameters,
        risk_points=rule.risk_points,
        four_eyes_minor=rule.four_eyes_minor,
        note="The rule's settings when versions began.",
        published_at=timezone.now(),
    )


RULE_FIELDS = ("name", "enabled", "action", "parameters", "description", "risk_points")
VERSION_FIELDS = ("action", "parameters", "risk_points", "four_eyes_minor")


def update_rule(*, rule: FraudRule, actor, reason: str = "", **changes) -> FraudRule:
    """Change a rule. `name`, `enabled` and `description` change on the rule (audited with
    before and after); a change of `action`, `parameters`, `risk_points` or `four_eyes_minor`
    is a new version published at once (create_draft + publish_version: audited with the diff).
    The screener of this process sees the change at once, other processes within seconds."""
    unknown = set(changes) - set(RULE_FIELDS) - {"four_eyes_minor"}
    if unknown:
        raise ValidationFailed(f"unknown rule fields: {', '.join(sorted(unknown))}")
    version_changes = {name: changes.pop(name) for name in VERSION_FIELDS if name in changes}
    with transaction.atomic():
        rule = FraudRule.objects.select_for_update().get(pk=rule.pk)
        if changes:
            before = {name: getattr(rule, name) for name in changes}
            for name, value in changes.items():
                setattr(rule, name, value)
            _validate_rule(rule)
            rule.save()
            record_rule_audit(rule=rule, actor=actor, before=before, reason=reason)
        if version_changes:
            draft = create_draft(rule=rule, actor=actor, note=reason, **version_changes)
            publish_version(version_id=draft.pk, actor=actor, reason=reason or "rule edited")
            rule.refresh_from_db()
    return rule


# --- rule versions --------------------------------------------------------------------------


def live_version(rule: FraudRule) -> RuleVersion | None:
    return RuleVersion.objects.filter(rule=rule, state=VersionState.LIVE).first()


def _validate_version(version: RuleVersion) -> None:
    from django.core.exceptions import ValidationError

    try:
        version.full_clean(exclude=["rule", "restored_from", "created_by", "published_by"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ValidationFailed(f"{field}: {' '.join(messages)}", field=field) from None


def create_draft(*, rule: FraudRule, actor, note: str = "", base=None, **fields) -> RuleVersion:
    """A new draft of `rule`: the live version's settings (or `base`'s), changed by `fields`
    (action, parameters, risk_points, four_eyes_minor), validated per kind. Numbers are given
    under the rule's row lock, so two drafts never share one."""
    unknown = set(fields) - set(VERSION_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown version fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        rule = FraudRule.objects.select_for_update().get(pk=rule.pk)
        source = base or live_version(rule)
        start = (
            {name: getattr(source, name) for name in VERSION_FIELDS}
            if source
            else {name: getattr(rule, name) for name in VERSION_FIELDS}
        )
        number = (RuleVersion.objects.filter(rule=rule).aggregate(n=Max("number"))["n"] or 0) + 1
        version = RuleVersion(
            rule=rule,
            number=number,
            state=VersionState.DRAFT,
            note=(note or "").strip()[:1000],
            created_by=actor if getattr(actor, "pk", None) else None,
            restored_from=base,
            **{**start, **fields},
        )
        _validate_version(version)
        version.save()
    return version


def update_draft(*, version_id: int, actor, **fields) -> RuleVersion:
    """Edit a draft (never a live, shadow or past version: those are history)."""
    unknown = set(fields) - set(VERSION_FIELDS) - {"note"}
    if unknown:
        raise ValidationFailed(f"unknown version fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        version = RuleVersion.objects.select_for_update().select_related("rule").get(pk=version_id)
        if version.state != VersionState.DRAFT:
            raise NotAllowed(f"version {version.number} is {version.state}: only drafts change")
        for name, value in fields.items():
            setattr(version, name, value)
        _validate_version(version)
        version.save()
    return version


def version_diff(before: RuleVersion | None, after: RuleVersion) -> dict[str, dict]:
    """{"before": {...}, "after": {...}} of what differs: each changed parameter by name, and
    action, risk points and the four-eyes figure."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name in ("action", "risk_points", "four_eyes_minor"):
        was = getattr(before, name) if before else None
        now = getattr(after, name)
        if was != now:
            old[name], new[name] = was, now
    was_params = (before.parameters if before else {}) or {}
    for name in sorted(set(was_params) | set(after.parameters or {})):
        if was_params.get(name) != (after.parameters or {}).get(name):
            old[f"parameters.{name}"] = was_params.get(name)
            new[f"parameters.{name}"] = (after.parameters or {}).get(name)
    return {"before": old, "after": new}


def publish_version(*, version_id: int, actor, reason: str = "") -> RuleVersion:
    """Make a draft (or the version in shadow) the rule's live version: the previous live one
    is superseded, the rule's settings become the version's, and an audit record keeps who,
    when and the diff of parameters and action against the version it replaces. Under the
    rule's row lock; the database itself refuses a second live version."""
    if actor is None or not getattr(actor, "pk", None):
        raise ValidationFailed("publishing needs a named staff user")
    with transaction.atomic():
        version = RuleVersion.objects.select_related("rule").get(pk=version_id)
        rule = FraudRule.objects.select_for_update().get(pk=version.rule_id)
        version = RuleVersion.objects.select_for_update().get(pk=version_id)
        if version.state not in (VersionState.DRAFT, VersionState.SHADOW):
            raise NotAllowed(
                f"version {version.number} is {version.state}: restore it as a draft to "
                "publish it again"
            )
        version.rule = rule
        _validate_version(version)
        previous = live_version(rule)
        now = timezone.now()
        if previous is not None:
            previous.state = VersionState.SUPERSEDED
            previous.superseded_at = now
            previous.save(update_fields=["state", "superseded_at"])
        version.state = VersionState.LIVE
        version.published_by = actor
        version.published_at = now
        version.shadow_since = None
        version.save(update_fields=["state", "published_by", "published_at", "shadow_since"])
        for name in VERSION_FIELDS:
            setattr(rule, name, getattr(version, name))
        rule.save()
        diff = version_diff(previous, version)
        wallet_services.record_audit(
            actor=actor,
            action="fraud.rule.publish",
            target=rule,
            reason=(reason or version.note or "").strip()[:1000],
            before={"version": previous.number if previous else None, **diff["before"]},
            after={"version": version.number, **diff["after"]},
        )
    from fraud import screening

    screening.invalidate_rule_cache()
    return version


def start_shadow(*, version_id: int, actor, reason: str = "") -> RuleVersion:
    """Run a draft in shadow next to the live version: evaluated in the same money-path call,
    its decision recorded, never acted on. A version already in shadow for the rule goes back
    to draft (one shadow per rule, enforced by the database). Audited."""
    with transaction.atomic():
        version = RuleVersion.objects.get(pk=version_id)
        rule = FraudRule.objects.select_for_update().get(pk=version.rule_id)
        version = RuleVersion.objects.select_for_update().get(pk=version_id)
        if version.state != VersionState.DRAFT:
            raise NotAllowed(
                f"version {version.number} is {version.state}: only a draft can shadow"
            )
        RuleVersion.objects.filter(rule=rule, state=VersionState.SHADOW).update(
            state=VersionState.DRAFT, shadow_since=None
        )
        version.state = VersionState.SHADOW
        version.shadow_since = timezone.now()
        version.save(update_fields=["state", "shadow_since"])
        wallet_services.record_audit(
            actor=actor,
            action="fraud.rule.shadow_start",
            target=rule,
            reason=reason,
            after={"version": version.number},
        )
    from fraud import screening

    screening.invalidate_rule_cache()
    return version


def stop_shadow(*, version_id: int, actor, reason: str = "") -> RuleVersion:
    """Take a version out of shadow (back to draft; its recorded decisions stay). Audited."""
    with transaction.atomic():
        version = RuleVersion.objects.select_for_update().select_related("rule").get(pk=version_id)
        if version.state != VersionState.SHADOW:
            raise NotAllowed(f"version {version.number} is not in shadow")
        version.state = VersionState.DRAFT
        version.shadow_since = None
        version.save(update_fields=["state", "shadow_since"])
        wallet_services.record_audit(
            actor=actor,
            action="fraud.rule.shadow_stop",
            target=version.rule,
            reason=reason,
            before={"version": version.number},
        )
    from fraud import screening

    screening.invalidate_rule_cache()
    return version


def restore_version(*, version_id: int, actor, note: str = "") -> RuleVersion:
    """A new draft carrying the settings of any version (a past live one, typically)."""
    base = RuleVersion.objects.select_related("rule").get(pk=version_id)
    return create_draft(
        rule=base.rule,
        actor=actor,
        base=base,
        note=note or f"Restored from version {base.number}.",
    )


# --- lists ----------------------------------------------------------------------------------


def _list_changed() -> None:
    from fraud import lists

    lists.invalidate_list_cache()


def add_list_entry(
    *, fraud_list: FraudList, value: str, reason: str, actor, expires_at=None
) -> ListEntry:
    """Put a value on a list (normalised: an address as its CIDR network, a country in
    capitals), with who added it and why; audited. A malformed value or a value already on the
    list is a VALIDATION_ERROR naming the field, and changes nothing."""
    from fraud.lists import normalise_value

    try:
        normalised = normalise_value(fraud_list.kind, value)
    except ValueError as error:
        raise ValidationFailed(str(error), field="value") from None
    if not (reason or "").strip():
        raise ValidationFailed("say why this value is on the list", field="reason")
    with transaction.atomic():
        if ListEntry.objects.filter(list=fraud_list, value=normalised).exists():
            raise ValidationFailed(f"{normalised} is already on {fraud_list.name}", field="value")
        entry = ListEntry.objects.create(
            list=fraud_list,
            value=normalised,
            reason=reason.strip()[:1000],
            added_by=actor if getattr(actor, "pk", None) else None,
            expires_at=expires_at,
        )
        wallet_services.record_audit(
            actor=actor,
            action="fraud.list.add",
            target=fraud_list,
            reason=entry.reason,
            after={"value": normalised},
        )
    transaction.on_commit(_list_changed)
    _list_changed()
    return entry


def remove_list_entry(*, entry: ListEntry, actor, reason: str = "") -> None:
    """Take a value off its list; the audit record keeps what it was, who added it and why."""
    with transaction.atomic():
        wallet_services.record_audit(
            actor=actor,
            action="fraud.list.remove",
            target=entry.list,
            reason=reason or "removed",
            before={
                "value": entry.value,
                "added_by": entry.added_by.get_username() if entry.added_by else None,
                "reason": entry.reason,
            },
        )
        entry.delete()
    transaction.on_commit(_list_changed)
    _list_changed()


# --- backtests ------------------------------------------------------------------------------

BACKTEST_MAX_DAYS = 365


def request_backtest(*, version_id: int, days: int, actor, run_now: bool = False) -> Backtest:
    """Queue a backtest of a version over the last `days` of the ledger (the Celery task
    fraud.tasks.run_backtest runs it; `run_now` runs it in this process instead)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= BACKTEST_MAX_DAYS:
        raise ValidationFailed(
            f"days must be a whole number from 1 to {BACKTEST_MAX_DAYS}", field="days"
        )
    version = RuleVersion.objects.select_related("rule").get(pk=version_id)
    backtest = Backtest.objects.create(
        version=version, days=days, requested_by=actor if getattr(actor, "pk", None) else None
    )
    if run_now:
        from fraud import backtest as runner

        runner.run_backtest(backtest_id=backtest.pk)
        backtest.refresh_from_db()
    else:
        from fraud import tasks

        transaction.on_commit(lambda: tasks.run_backtest.delay(backtest.pk))
    return backtest


def _validate_rule(rule: FraudRule) -> None:
    from django.core.exceptions import ValidationError

    try:
        rule.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ValidationFailed(f"{field}: {' '.join(messages)}", field=field) from None


def record_rule_audit(*, rule: FraudRule, actor, before: dict, reason: str = "") -> None:
    changed = {name for name, value in before.items() if getattr(rule, name) != value}
    if not changed:
        return
    wallet_services.record_audit(
        actor=actor,
        action="fraud.rule.change",
        target=rule,
        reason=reason,
        before={name: before[name] for name in sorted(changed)},
        after={name: getattr(rule, name) for name in sorted(changed)},
    )


def four_eyes_threshold_minor(rule_keys: Iterable[str] = ()) -> int:
    """Held amounts from this figure need two approvers: the lowest per-rule figure among the
    rules that fired, else settings.FRAUD_FOUR_EYES_MINOR (env, default 100000 minor)."""
    per_rule = [
        value
        for value in FraudRule.objects.filter(
            key__in=list(rule_keys), four_eyes_minor__isnull=False
        ).values_list("four_eyes_minor", flat=True)
    ]
    if per_rule:
        return min(per_rule)
    return settings.FRAUD_FOUR_EYES_MINOR


# --- recording hits -------------------------------------------------------------------------


def _whole_number(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _normalise_hits(hits: Iterable[dict[str, Any]], default_action: str) -> list[dict]:
    """Hits as stored: rule, the live version that decided (its id and number), action,
    figures (a foreign screener may send less: no version then)."""
    return [
        {
            "rule": str(hit.get("rule", "unknown")),
            "version_id": _whole_number(hit.get("version_id")),
            "version": _whole_number(hit.get("version")),
            "action": str(hit.get("action", default_action)),
            "figures": dict(hit.get("figures", {})),
        }
        for hit in hits
    ]


def _add_hits(*, player_id: int, hits: list[dict], case: Case | None) -> None:
    """Append RuleHit rows and add their points to the player's risk record (one UPSERT-like
    update; concurrent hits of one player both count)."""
    if not hits:
        return
    points_by_rule = dict(
        FraudRule.objects.filter(key__in=[h["rule"] for h in hits]).values_list(
            "key", "risk_points"
        )
    )
    RuleHit.objects.bulk_create(
        RuleHit(
            player_id=player_id,
            rule_key=hit["rule"],
            version_id=hit.get("version_id"),
            action=hit["action"],
            figures=hit["figures"],
            case=case,
        )
        for hit in hits
    )
    points = sum(points_by_rule.get(hit["rule"], DEFAULT_RISK_POINTS) for hit in hits)
    now = timezone.now()
    PlayerRisk.objects.get_or_create(player_id=player_id)
    PlayerRisk.objects.filter(player_id=player_id).update(
        score=F("score") + points, hit_count=F("hit_count") + len(hits), last_hit_at=now
    )


def record_screening(*, transaction: Transaction, screening: hooks.Screening) -> Case | None:
    """After commit of a screened ledger row: record the rule hits and the player's risk, and
    open the review case: a `hold` case for a held row (whatever screener held it), a `flag`
    case when a rule flagged. Idempotent per transaction (one case per held row)."""
    txn = transaction
    hits = _normalise_hits(screening.hits, screening.action)
    held = txn.status == TransactionStatus.HELD
    strongest = max(
        (h["action"] for h in hits), key=lambda a: ACTION_STRENGTH.get(a, 0), default=None
    )
    case = None
    with _atomic():
        if held or (strongest and ACTION_STRENGTH.get(strongest, 0) >= 1):
            case, created = Case.objects.get_or_create(
                transaction_id=txn.pk,
                defaults=dict(
                    kind=CaseKind.HOLD if held else CaseKind.FLAG,
                    player_id=txn.player_id,
                    wallet_id=txn.wallet_id,
                    provider_id=txn.provider_id,
                    session_id=txn.session_id,
                    request_kind=txn.kind,
                    currency=txn.currency,
                    amount_minor=txn.amount_minor,
                    client_ip=txn.client_ip,
                    rule_keys=sorted({h["rule"] for h in hits}),
                    hits=hits,
                ),
            )
            if not created:
                return case
        _add_hits(player_id=txn.player_id, hits=hits, case=case)
        if (
            held
            and txn.kind == TransactionKind.WITHDRAWAL
            and any(h["figures"].get("hold_next_withdrawal") for h in hits)
        ):
            PlayerRisk.objects.filter(player_id=txn.player_id).update(
                hold_next_withdrawal=False, hold_next_withdrawal_reason=""
            )
    return case


def record_declined_bet(*, request: hooks.ScreeningRequest, screening: hooks.Screening) -> Case:
    """A bet refused by a rule (BET_DECLINED): open a case keeping the request's figures (there
    is no ledger row), and record the hits. Runs after the refused call was rolled back."""
    hits = _normalise_hits(screening.hits, hooks.DECLINE)
    with _atomic():
        case = Case.objects.create(
            kind=CaseKind.DECLINE,
            player_id=request.player_id,
            wallet_id=request.wallet_id,
            provider_id=request.provider_id,
            session_id=request.session_id,
            request_kind=request.kind,
            currency=request.currency,
            amount_minor=request.amount_minor,
            client_ip=request.client_ip,
            rule_keys=sorted({h["rule"] for h in hits}),
            hits=hits,
        )
        _add_hits(player_id=request.player_id, hits=hits, case=case)
    return case


def _atomic():
    return transaction.atomic()


# --- decisions ------------------------------------------------------------------------------


def _check_decision(actor, reason_code: str, note: str, *, approve: bool, outcome) -> tuple:
    """(note, outcome) of a valid decision; ValidationFailed naming the field otherwise."""
    if actor is None or not getattr(actor, "pk", None):
        raise ValidationFailed("a decision needs a named staff user")
    if reason_code not in DecisionReason.values:
        raise ValidationFailed(f"unknown reason code {reason_code!r}", field="reason_code")
    fitting = APPROVE_REASONS if approve else REJECT_REASONS
    if reason_code not in fitting:
        raise ValidationFailed(
            f"reason code {reason_code!r} does not explain "
            f"{'an approval' if approve else 'a rejection'}; one of: "
            + ", ".join(str(code) for code in fitting),
            field="reason_code",
        )
    if not note or not note.strip():
        raise ValidationFailed("a decision needs a note", field="note")
    if outcome in (None, ""):
        outcome = default_outcome(approve=approve, reason_code=reason_code)
    elif outcome not in CaseOutcome.values:
        raise ValidationFailed(f"unknown outcome {outcome!r}", field="outcome")
    elif outcome not in (APPROVE_OUTCOMES if approve else REJECT_OUTCOMES):
        raise ValidationFailed(
            f"outcome {outcome!r} does not fit {'an approval' if approve else 'a rejection'}",
            field="outcome",
        )
    return note.strip()[:1000], outcome


def check_case_level(actor, case: Case) -> None:
    """An escalated (level 2) case is claimed and decided only by users holding
    fraud.decide_escalated_case (a superuser holds every permission)."""
    if case.level == CaseLevel.SECOND and not actor.has_perm("fraud.decide_escalated_case"):
        raise CaseForbidden("this case is escalated: only level-2 reviewers may work on it")


def _check_claim(actor, case: Case) -> None:
    if case.assigned_to_id is not None and case.assigned_to_id != actor.pk:
        raise NotAllowed(
            f"case is claimed by {case.assigned_to.get_username()}: ask them, or reassign it first",
            field="assigned_to",
        )


def _case_state(case: Case) -> dict:
    return {
        "status": case.status,
        "transaction_status": case.transaction.status if case.transaction_id else None,
        "first_approved_by": case.first_approved_by_id,
        "outcome": case.outcome,
    }


def approve_case(*, case_id: int, actor, reason_code: str, note: str, outcome=None) -> Case:
    """Approve a case. A held transaction is posted (wallets.ledger.decide_hold, under the
    wallet lock). From the four-eyes threshold a held amount needs two different approvers: the
    first approval is recorded (status awaiting_second) and the claim released for the second
    approver; the same user twice is refused (FOUR_EYES_REQUIRED). Decided once only: the case
    row is locked, and a case no longer undecided is refused (NOT_ALLOWED), as is a case claimed
    by someone else. `reason_code` must be an approval reason (APPROVE_REASONS); `outcome`
    (false_positive or legitimate) defaults from it (choices.default_outcome). Escalated cases
    need fraud.decide_escalated_case. Audited."""
    return _decide(
        case_id=case_id,
        actor=actor,
        approve=True,
        reason_code=reason_code,
        note=note,
        outcome=outcome,
    )


def reject_case(*, case_id: int, actor, reason_code: str, note: str, outcome=None) -> Case:
    """Reject a case. A held transaction is released: a held credit leaves the balance, a held
    withdrawal returns to available. One staff user suffices (refusing money out is the safe
    side). `reason_code` must be a rejection reason (REJECT_REASONS); the outcome is
    confirmed_fraud. Decided once only; audited."""
    return _decide(
        case_id=case_id,
        actor=actor,
        approve=False,
        reason_code=reason_code,
        note=note,
        outcome=outcome,
    )


def _decide(*, case_id: int, actor, approve: bool, reason_code: str, note: str, outcome) -> Case:
    note, outcome = _check_decision(actor, reason_code, note, approve=approve, outcome=outcome)
    with transaction.atomic():
        # Lock order: case row, then (in decide_hold) the wallet row. Nothing locks a wallet
        # and then a case, so concurrent decisions serialise here without deadlock.
        case = Case.objects.select_for_update().get(pk=case_id)
        if not case.undecided:
            raise NotAllowed(f"case is already {case.status}")
        check_case_level(actor, case)
        _check_claim(actor, case)
        before = _case_state(case)
        now = timezone.now()
        moves_money = case.kind == CaseKind.HOLD and case.transaction_id is not None
        if (
            approve
            and moves_money
            and case.amount_minor >= four_eyes_threshold_minor(case.rule_keys)
        ):
            if case.first_approved_by_id is None:
                case.status = CaseStatus.AWAITING_SECOND
                case.first_approved_by = actor
                case.first_approved_at = now
                case.first_reason_code = reason_code
                case.first_note = note
                # Back to the queue: the second approver takes it with "next case".
                case.assigned_to = None
                case.assigned_at = None
                case.save(
                    update_fields=[
                        "status",
                        "first_approved_by",
                        "first_approved_at",
                        "first_reason_code",
                        "first_note",
                        "assigned_to",
                        "assigned_at",
                    ]
                )
                wallet_services.record_audit(
                    actor=actor,
                    action="fraud.case.first_approval",
                    target=case,
                    reason=f"{reason_code}: {note}",
                    before=before,
                    after=_case_state(case),
                )
                return case
            if case.first_approved_by_id == actor.pk:
                raise FourEyesRequired("the second approval must come from another staff user")
        if moves_money:
            ledger.decide_hold(
                transaction_id=case.transaction_id,
                approve=approve,
                actor=actor,
                note=f"{reason_code}: {note}",
            )
            case.transaction.refresh_from_db()
        case.status = CaseStatus.APPROVED if approve else CaseStatus.REJECTED
        case.decided_by = actor
        case.decided_at = now
        case.reason_code = reason_code
        case.decision_note = note
        case.outcome = outcome
        case.save(
            update_fields=[
                "status",
                "decided_by",
                "decided_at",
                "reason_code",
                "decision_note",
                "outcome",
            ]
        )
        wallet_services.record_audit(
            actor=actor,
            action="fraud.case.approve" if approve else "fraud.case.reject",
            target=case,
            reason=f"{reason_code}: {note}",
            before=before,
            after=_case_state(case),
        )
    return case


def assign_case(*, case_id: int, actor, assignee) -> Case:
    """Give an undecided case to a reviewer (a user who may decide cases; a level-2 reviewer
    for an escalated case), or take it back (assignee None). Audited."""
    if assignee is not None and not (
        assignee.is_active and assignee.is_staff and assignee.has_perm("fraud.decide_case")
    ):
        raise ValidationFailed("the assignee may not decide fraud cases", field="assignee")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if not case.undecided:
            raise NotAllowed(f"case is already {case.status}")
        if (
            assignee is not None
            and case.level == CaseLevel.SECOND
            and not assignee.has_perm("fraud.decide_escalated_case")
        ):
            raise ValidationFailed(
                "the case is escalated and the assignee is no level-2 reviewer", field="assignee"
            )
        before = {"assigned_to": case.assigned_to_id}
        case.assigned_to = assignee
        case.assigned_at = timezone.now() if assignee is not None else None
        case.save(update_fields=["assigned_to", "assigned_at"])
        wallet_services.record_audit(
            actor=actor,
            action="fraud.case.assign",
            target=case,
            before=before,
            after={"assigned_to": case.assigned_to_id},
        )
    return case


# --- player risk ----------------------------------------------------------------------------


def set_player_trusted(*, player: Player, trusted: bool, reason: str, actor) -> PlayerRisk:
    """Mark a player trusted (the rapid-deposit and high-stake rules skip them; withdrawal
    velocity still applies) or take it back. Audited."""
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        PlayerRisk.objects.get_or_create(player=player)
        risk = PlayerRisk.objects.select_for_update().get(player=player)
        before = {"trusted": risk.trusted}
        risk.trusted = trusted
        risk.trusted_reason = reason.strip()[:500] if trusted else ""
        risk.trusted_by = actor if trusted else None
        risk.trusted_at = timezone.now() if trusted else None
        if trusted:
            risk.hold_next_withdrawal = False
            risk.hold_next_withdrawal_reason = ""
        risk.save()
        wallet_services.record_audit(
            actor=actor,
            action="fraud.player.trust" if trusted else "fraud.player.untrust",
            target=player,
            reason=reason,
            before=before,
            after={"trusted": trusted},
        )
    return risk


def block_player(*, player: Player, reason: str, actor) -> Player:
    """Block a player: the wallet API then refuses their play (PLAYER_BLOCKED). Audited by
    wallets.services.set_player_status."""
    return wallet_services.set_player_status(
        player=player, status=PlayerStatus.BLOCKED, reason=reason, actor=actor
    )


# --- pattern jobs ---------------------------------------------------------------------------


def _enabled_rule(key: str) -> FraudRule | None:
    """The enabled rule with its live version's id and number (`live_version_id`,
    `live_version_number`): a pattern job's hits record the version whose settings it ran."""
    live = RuleVersion.objects.filter(rule=OuterRef("pk"), state=VersionState.LIVE)
    return (
        FraudRule.objects.filter(key=key, enabled=True)
        .annotate(
            live_version_id=Subquery(live.values("pk")[:1]),
            live_version_number=Subquery(live.values("number")[:1]),
        )
        .first()
    )


def _trusted_ids(player_ids: Iterable[int]) -> set[int]:
    return set(
        PlayerRisk.objects.filter(player_id__in=list(player_ids), trusted=True).values_list(
            "player_id", flat=True
        )
    )


def _flag(*, rule: FraudRule, player_id: int, figures: dict, dedupe_key: str) -> Case | None:
    """One pattern hit: a flag case (unless the rule only records, action allow) and the hit.
    A dedupe key already used opens nothing (a rerun over the same window)."""
    hits = [
        {
            "rule": rule.key,
            "version_id": getattr(rule, "live_version_id", None),
            "version": getattr(rule, "live_version_number", None),
            "action": rule.action,
            "figures": figures,
        }
    ]
    try:
        with transaction.atomic():
            case = None
            if rule.action != RuleAction.ALLOW:
                case = Case.objects.create(
                    kind=CaseKind.FLAG,
                    player_id=player_id,
                    rule_keys=[rule.key],
                    hits=hits,
                    dedupe_key=dedupe_key[:200],
                    client_ip=figures.get("ip"),
                )
            elif RuleHit.objects.filter(
                player_id=player_id, rule_key=rule.key, figures__dedupe_key=dedupe_key
            ).exists():
                return None
            hits[0]["figures"] = {**figures, "dedupe_key": dedupe_key}
            _add_hits(player_id=player_id, hits=hits, case=case)
            return case
    except IntegrityError:  # the dedupe key: flagged by an earlier run
        return None


def scan_multi_account_ips(*, now=None) -> int:
    """Pattern job: addresses from which at least `min_accounts` players registered, or
    deposited, within the window; each account is flagged once per address. Time-bounded
    queries over indexed columns (Player.created_at, Transaction.created_at). Returns how many
    accounts were flagged in this run."""
    rule = _enabled_rule(RuleKind.MULTI_ACCOUNT_IP)
    if rule is None:
        return 0
    p = rule_kinds.validate_parameters(rule.key, rule.parameters)
    now = now or timezone.now()
    since = now - timedelta(seconds=p["window_seconds"])
    registered = (
        Player.objects.filter(created_at__gte=since, registration_ip__isnull=False)
        .values("registration_ip")
        .annotate(accounts=Count("id"))
        .filter(accounts__gte=p["min_accounts"])
        .order_by("-accounts")[:PATTERN_BATCH_LIMIT]
    )
    deposited = (
        Transaction.objects.filter(
            created_at__gte=since, kind=TransactionKind.DEPOSIT, client_ip__isnull=False
        )
        .values("client_ip")
        .annotate(accounts=Count("player_id", distinct=True))
        .filter(accounts__gte=p["min_accounts"])
        .order_by("-accounts")[:PATTERN_BATCH_LIMIT]
    )
    flagged = 0
    for via, rows, ip_field in (
        ("registration", registered, "registration_ip"),
        ("deposit", deposited, "client_ip"),
    ):
        for row in rows:
            ip = row[ip_field]
            if via == "registration":
                player_ids = Player.objects.filter(
                    created_at__gte=since, registration_ip=ip
                ).values_list("id", flat=True)
            else:
                player_ids = (
                    Transaction.objects.filter(
                        created_at__gte=since, kind=TransactionKind.DEPOSIT, client_ip=ip
                    )
                    .values_list("player_id", flat=True)
                    .distinct()
                )
            player_ids = sorted(set(player_ids))
            # Trusted players and those with this rule snoozed are left alone.
            trusted = _trusted_ids(player_ids) | selectors.snoozed_player_ids(rule.key, player_ids)
            for player_id in player_ids:
                if player_id in trusted:
                    continue
                case = _flag(
                    rule=rule,
                    player_id=player_id,
                    figures={
                        "ip": ip,
                        "via": via,
                        "accounts": row["accounts"],
                        "window_seconds": p["window_seconds"],
                        "other_player_ids": [pid for pid in player_ids if pid != player_id][:50],
                    },
                    dedupe_key=f"{rule.key}:{ip}:{player_id}",
                )
                flagged += case is not None
    return flagged


def scan_bonus_farming(*, now=None) -> int:
    """Pattern job: players with at least `min_count` deposits of at most `min_deposit` within
    the window are flagged (once per run of new deposits: the key names the latest one) and,
    with `hold_next_withdrawal`, their next withdrawal is held. Returns players flagged."""
    rule = _enabled_rule(RuleKind.BONUS_FARMING)
    if rule is None:
        return 0
    p = rule_kinds.validate_parameters(rule.key, rule.parameters)
    now = now or timezone.now()
    since = now - timedelta(seconds=p["window_seconds"])
    rows = list(
        Transaction.objects.filter(
            created_at__gte=since,
            kind=TransactionKind.DEPOSIT,
            amount_minor__lte=p["min_deposit_max_minor"],
        )
        .exclude(status=TransactionStatus.REJECTED)
        .values("player_id")
        .annotate(deposits=Count("id"), latest=Max("id"))
        .filter(deposits__gte=p["min_count"])
        .order_by("player_id")[:PATTERN_BATCH_LIMIT]
    )
    subjects = [row["player_id"] for row in rows]
    trusted = _trusted_ids(subjects) | selectors.snoozed_player_ids(rule.key, subjects)
    pending = set(
        Case.objects.filter(
            player_id__in=[row["player_id"] for row in rows],
            rule_keys__contains=[rule.key],
            status__in=UNDECIDED_STATUSES,
        ).values_list("player_id", flat=True)
    )
    flagged = 0
    for row in rows:
        player_id = row["player_id"]
        if player_id in trusted or player_id in pending:
            continue
        case = _flag(
            rule=rule,
            player_id=player_id,
            figures={
                "minimum_deposits": row["deposits"],
                "min_deposit_max_minor": p["min_deposit_max_minor"],
                "window_seconds": p["window_seconds"],
                "hold_next_withdrawal": p["hold_next_withdrawal"],
            },
            dedupe_key=f"{rule.key}:{player_id}:{row['latest']}",
        )
        if case is None and rule.action != RuleAction.ALLOW:
            continue
        flagged += 1
        if p["hold_next_withdrawal"]:
            PlayerRisk.objects.get_or_create(player_id=player_id)
            PlayerRisk.objects.filter(player_id=player_id).update(
                hold_next_withdrawal=True,
                hold_next_withdrawal_reason=f"bonus farming: {row['deposits']} minimum deposits",
            )
    return flagged


def run_pattern_scans(*, now=None) -> dict[str, int]:
    """Both pattern jobs; returns accounts flagged per rule."""
    return {
        RuleKind.MULTI_ACCOUNT_IP.value: scan_multi_account_ips(now=now),
        RuleKind.BONUS_FARMING.value: scan_bonus_farming(now=now),
    }
