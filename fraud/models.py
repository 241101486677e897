"""Fraud rules, per-player baselines and risk, and the review queue (cases).

The money path reads only PlayerBaseline (one row per wallet) and PlayerRisk (one row per
player), in one primary-key query, plus the enabled rules from an in-process cache. Everything
else here is written after commit or by staff.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from fraud.choices import (
    BacktestStatus,
    CaseKind,
    CaseLevel,
    CaseOutcome,
    CaseStatus,
    DecisionReason,
    ListKind,
    ListPurpose,
    RuleAction,
    RuleKind,
    VersionState,
)
from wallets.models import GameSession, Player, Provider, Transaction, Wallet


class FraudRule(models.Model):
    """One rule: its kind decides what is evaluated, `parameters` the thresholds, `action`
    what happens on a hit. Never deleted, disable it instead.

    `action`, `parameters`, `risk_points` and `four_eyes_minor` are a copy of the rule's live
    RuleVersion, written only by fraud.services.publish_version (audited): staff change them by
    editing a draft and publishing it. `name`, `enabled` and `description` belong to the rule.
    """

    key = models.CharField(max_length=64, unique=True, choices=RuleKind.choices)
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    action = models.CharField(max_length=16, choices=RuleAction.choices)
    parameters = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    risk_points = models.PositiveIntegerField(
        default=10, help_text="Added to the player's risk score on each hit."
    )
    four_eyes_minor = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Held amounts (minor units) from this figure need two approvers; "
        "empty: the FRAUD_FOUR_EYES_MINOR setting.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name or self.key

    def clean(self) -> None:
        from fraud.rules import validate_parameters

        if self.key not in RuleKind.values:
            raise ValidationError({"key": f"unknown rule kind {self.key!r}"})
        try:
            self.parameters = validate_parameters(self.key, self.parameters)
        except ValueError as error:
            raise ValidationError({"parameters": str(error)}) from None
        if self.four_eyes_minor is not None and self.four_eyes_minor < 0:
            raise ValidationError({"four_eyes_minor": "must not be negative"})


class PlayerBaseline(models.Model):
    """Precomputed figures of one wallet, updated incrementally after each ledger row (one
    UPSERT) and read by the screener with one primary-key lookup. Never a history scan.

    Times are Unix epoch seconds. The arrays keep the most recent entries first, at most
    RECENT_LIMIT of them, which bounds every count a rule can ask for.
    """

    RECENT_LIMIT = 20

    wallet = models.OneToOneField(
        Wallet, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="+")
    bet_count = models.BigIntegerField(default=0)
    # Rolling typical stake: the running mean of the first 10 bets, then an EWMA (alpha 1/10),
    # in integer minor units.
    stake_ewma_minor = models.BigIntegerField(default=0)
    last_bet_at = models.BigIntegerField(null=True, blank=True)
    deposit_times = ArrayField(models.BigIntegerField(), default=list, blank=True)
    deposit_amounts = ArrayField(models.BigIntegerField(), default=list, blank=True)
    withdrawal_times = ArrayField(models.BigIntegerField(), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["player"], name="fraud_baseline_player")]

    def __str__(self) -> str:
        return f"baseline of wallet {self.wallet_id}"


class PlayerRisk(models.Model):
    """A player's risk record: accumulated rule hits, and what staff decided about the player.

    trusted: the real-time rules relax (see fraud.rules.evaluate): only withdrawal velocity
    still holds; the pattern jobs skip the player. hold_next_withdrawal: set by the bonus
    farming job; the player's next withdrawal is held, which clears it.
    """

    player = models.OneToOneField(
        Player, primary_key=True, on_delete=models.CASCADE, related_name="risk"
    )
    score = models.BigIntegerField(default=0)
    hit_count = models.BigIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    trusted = models.BooleanField(default=False)
    trusted_reason = models.CharField(max_length=500, blank=True)
    trusted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    trusted_at = models.DateTimeField(null=True, blank=True)
    hold_next_withdrawal = models.BooleanField(default=False)
    hold_next_withdrawal_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-score"]
        verbose_name = "player risk"
        verbose_name_plural = "player risk"
        permissions = [("trust_player", "Can mark players trusted")]

    def __str__(self) -> str:
        return f"risk of {self.player_id}: {self.score}"


class Case(models.Model):
    """One item of the review queue: a held transaction, a declined bet (no transaction: the
    request's figures are kept here) or a flag, with the rule hits that opened it.

    Deciding: approve posts a held transaction, reject releases it (wallets.ledger.decide_hold).
    A declined bet or a flag has no money to move: approve clears it, reject confirms it.
    Held amounts from the four-eyes threshold need two different approvers.
    """

    kind = models.CharField(max_length=16, choices=CaseKind.choices)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="fraud_cases")
    wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # No database constraint: the ledger is partitioned (see Transaction.reference).
    transaction = models.OneToOneField(
        Transaction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fraud_case",
        db_constraint=False,
    )
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    session = models.ForeignKey(
        GameSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    request_kind = models.CharField(max_length=16, blank=True)  # bet, deposit, withdrawal, win
    currency = models.CharField(max_length=3, blank=True)
    amount_minor = models.BigIntegerField(default=0)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    rule_keys = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # [{"rule": key, "action": ..., "figures": {...}}, ...]: what fired, and on which figures.
    hits = models.JSONField(default=list, blank=True)
    # Pattern jobs open one case per (rule, subject): a rerun does not open it again.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    first_reason_code = models.CharField(max_length=32, blank=True, choices=DecisionReason.choices)
    first_note = models.CharField(max_length=1000, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason_code = models.CharField(max_length=32, blank=True, choices=DecisionReason.choices)
    decision_note = models.CharField(max_length=1000, blank=True)
    # What the case turned out to be (set with the final decision): the rule statistics count it.
    outcome = models.CharField(max_length=32, blank=True, choices=CaseOutcome.choices)
    # Level 2: escalated by a level-1 reviewer; only users with decide_escalated_case claim and
    # decide it, and it leaves the level-1 queues.
    level = models.PositiveSmallIntegerField(choices=CaseLevel.choices, default=CaseLevel.FIRST)
    escalated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_reason = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [
            ("decide_case", "Can approve and reject fraud cases and holds"),
            ("assign_case", "Can assign fraud cases to reviewers"),
            ("decide_escalated_case", "Can claim and decide escalated (level 2) fraud cases"),
            ("snooze_rule", "Can exempt a player from a fraud rule for a while (snooze)"),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["open", "awaiting_second"]),
                name="fraud_case_undecided",
            ),
            models.Index(fields=["player", "-created_at"], name="fraud_case_player"),
            models.Index(fields=["status", "created_at"], name="fraud_case_status"),
            # The rule statistics read cases opened within a window.
            models.Index(fields=["created_at"], name="fraud_case_created"),
            GinIndex(fields=["rule_keys"], name="fraud_case_rules"),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.kind}, {self.status})"

    @property
    def undecided(self) -> bool:
        return self.status in (CaseStatus.OPEN, CaseStatus.AWAITING_SECOND)


class RuleHit(models.Model):
    """One rule firing for a player, with the figures that triggered it (append-only).

    `version` is the rule's live version that decided (the screener's rule cache, the pattern
    job's rule): the rule statistics compare versions by it. Null for hits recorded before
    versions were recorded on hits (and the backfill could not tell the version exactly), and
    for hits of a foreign screener that names no version."""

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="+")
    rule_key = models.CharField(max_length=64)
    version = models.ForeignKey(
        "RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="hits"
    )
    action = models.CharField(max_length=16)
    figures = models.JSONField(default=dict, blank=True)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="rule_hits"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["player", "-created_at"], name="fraud_hit_player"),
            # The rule statistics read hits within a window.
            models.Index(fields=["created_at", "rule_key"], name="fraud_hit_created"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_key} on {self.player_id}"


class CaseNote(models.Model):
    """One entry of a case's notes thread (append-only: a note is never edited or deleted)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["case", "created_at"], name="fraud_casenote_case")]

    def __str__(self) -> str:
        return f"note {self.pk} on case {self.case_id}"


class RuleSnooze(models.Model):
    """One player exempt from one rule until `until` (at most MAX_SNOOZE_DAYS ahead), with the
    reason and who set it. It ends by itself: everything reads `until > now`; lifting it early
    sets `lifted_at`. The screener reads the active ones for the player in its one query."""

    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="rule_snoozes")
    rule_key = models.CharField(max_length=64, choices=RuleKind.choices)
    starts_at = models.DateTimeField()
    until = models.DateTimeField()
    reason = models.CharField(max_length=1000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="snoozes"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_reason = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-until", "-id"]
        indexes = [
            # The screener's read: a player's snoozes not lifted, by end.
            models.Index(
                fields=["player", "until"],
                condition=Q(lifted_at__isnull=True),
                name="fraud_snooze_active",
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(until__gt=F("starts_at")), name="fraud_snooze_ends")
        ]

    def __str__(self) -> str:
        return f"{self.rule_key} snoozed for {self.player_id} until {self.until:%Y-%m-%d %H:%M}"

    def is_active(self, now=None) -> bool:
        from django.utils import timezone

        return self.lifted_at is None and self.until > (now or timezone.now())


class RuleVersion(models.Model):
    """One version of a rule's settings. Drafts are edited; publishing one makes it the live
    version (the previous live one is superseded), audited with the diff. The database keeps
    at most one live and one shadow version per rule (partial unique indexes). A live or past
    version is never edited again: restoring one copies it into a new draft."""

    rule = models.ForeignKey(FraudRule, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=VersionState.choices, default="draft")
    action = models.CharField(max_length=16, choices=RuleAction.choices)
    parameters = models.JSONField(default=dict, blank=True)
    risk_points = models.PositiveIntegerField(default=10)
    four_eyes_minor = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(
        max_length=1000, blank=True, help_text="What this version changes, and why."
    )
    restored_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    shadow_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="fraud_version_number"),
            models.UniqueConstraint(
                fields=["rule"], condition=Q(state="live"), name="fraud_one_live_version"
            ),
            models.UniqueConstraint(
                fields=["rule"], condition=Q(state="shadow"), name="fraud_one_shadow_version"
            ),
            models.CheckConstraint(
                condition=Q(state__in=VersionState.values), name="fraud_version_state_known"
            ),
        ]
        permissions = [("publish_ruleversion", "Can publish rule versions and run them in shadow")]

    def __str__(self) -> str:
        return f"{self.rule_id and self.rule.key} v{self.number} ({self.state})"

    @property
    def editable(self) -> bool:
        return self.state == VersionState.DRAFT

    def clean(self) -> None:
        from fraud.rules import validate_parameters

        if self.rule_id is None:
            return  # the form names the missing or unknown rule
        try:
            self.parameters = validate_parameters(self.rule.key, self.parameters)
        except ValueError as error:
            raise ValidationError({"parameters": str(error)}) from None
        if self.action not in RuleAction.values:
            raise ValidationError({"action": f"unknown action {self.action!r}"})
        if self.four_eyes_minor is not None and self.four_eyes_minor < 0:
            raise ValidationError({"four_eyes_minor": "must not be negative"})


class ShadowDecision(models.Model):
    """What a shadow version would have decided on one screened call, beside what the live
    rules decided. Written off the money path (a queue flushed by a writer thread): it never
    changes the call. No foreign keys to players or wallets: the record outlives nothing."""

    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+")
    rule_key = models.CharField(max_length=64)
    request_kind = models.CharField(max_length=16)
    player_id = models.BigIntegerField()
    wallet_id = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    live_action = models.CharField(max_length=16)  # this rule's live version alone
    # The live version compared against (null: the rule was disabled, so no live version ran;
    # or the decision was recorded before this was kept and the backfill could not tell).
    live_version = models.ForeignKey(
        RuleVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shadow_action = models.CharField(max_length=16)
    shadow_hit = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "created_at"], name="fraud_shadow_version_at")]

    def __str__(self) -> str:
        return f"shadow {self.version_id}: {self.live_action} / {self.shadow_action}"


class Backtest(models.Model):
    """One run of a rule version over the last `days` of the ledger (fraud.backtest)."""

    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="backtests")
    days = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    stage = models.CharField(max_length=200, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"backtest {self.pk} of {self.version} over {self.days} days"


class FraudList(models.Model):
    """A list of values (addresses and ranges, countries, payment fingerprints, player ids) that
    the list rules act on: a call whose value is on a block list meets the list_block rule, on
    a review list the list_review rule; on a trust list the player counts as trusted."""

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=ListKind.choices)
    purpose = models.CharField(max_length=16, choices=ListPurpose.choices)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "fraud list"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.purpose})"


class ListEntry(models.Model):
    """One value on a list, normalised (an address as a CIDR network, a country in capitals),
    with who added it and why. Removing an entry is audited."""

    list = models.ForeignKey(FraudList, on_delete=models.CASCADE, related_name="entries")
    value = models.CharField(max_length=200)
    reason = models.CharField(max_length=1000)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["list", "value"]
        verbose_name_plural = "list entries"
        constraints = [
            models.UniqueConstraint(fields=["list", "value"], name="fraud_list_entry_unique")
        ]

    def __str__(self) -> str:
        return f"{self.value} on {self.list_id}"

    def clean(self) -> None:
        from fraud.lists import normalise_value

        if self.list_id is None:
            return
        try:
            self.value = normalise_value(self.list.kind, self.value)
        except ValueError as error:
            raise ValidationError({"value": str(error)}) from None
        if not (self.reason or "").strip():
            raise ValidationError({"reason": "say why this value is on the list"})
