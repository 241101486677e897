"""What each rule kind means: its parameters (validated, with defaults) and, for the real-time
kinds, its evaluation against one player's precomputed baseline.

Amounts are minor units of the wallet's currency (one threshold for every currency: tune the
seeded figures for the currencies you run). Times are seconds.

Real-time evaluation (`evaluate`) is pure: it gets the request, the enabled rules and the
baseline row, and returns a Screening. It never reads the database.

Trusted players (PlayerRisk.trusted): the rapid-deposit and high-stake rules are skipped for
them; withdrawal velocity still applies (a compromised trusted account is drained the same way);
the pattern jobs skip them and never set "hold the next withdrawal".
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fraud.choices import ACTION_STRENGTH, ListPurpose, RuleAction, RuleKind
from fraud.lists import ListSnapshot
from wallets import hooks

HOUR = 3600
DAY = 24 * HOUR
RECENT_LIMIT = 20  # PlayerBaseline.RECENT_LIMIT: the longest count a rule may ask for


@dataclass(frozen=True)
class Param:
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    help: str = ""

    def check(self, name: str, value: Any) -> Any:
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            return value
        # Integers only: thresholds are counts, seconds and minor units, never floats.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{name} must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{name} must be at most {self.maximum}")
        return value


PARAMETERS: dict[str, dict[str, Param]] = {
    RuleKind.RAPID_DEPOSITS_WITHDRAWAL: {
        "min_small_deposits": Param(3, 1, RECENT_LIMIT - 1, "N: small deposits within the window"),
        "small_deposit_max_minor": Param(20_00, 1, None, "X: a deposit up to this is small"),
        "window_seconds": Param(HOUR, 60, 30 * DAY, "T: how far back deposits count"),
        "withdrawal_min_minor": Param(100_00, 1, None, "Y: a withdrawal from this is large"),
    },
    RuleKind.HIGH_STAKE_AFTER_LOGIN: {
        "within_seconds": Param(60, 1, DAY, "bets this soon after authentication"),
        "min_stake_minor": Param(200_00, 1, None, "only stakes from this amount"),
        "stake_multiple": Param(10, 2, 100_000, "stake at least this many typical stakes"),
        "min_history_bets": Param(20, 1, 1000, "no decision before this many bets"),
    },
    RuleKind.WITHDRAWAL_VELOCITY: {
        "max_withdrawals": Param(5, 1, RECENT_LIMIT - 1, "withdrawals allowed in the window"),
        "window_seconds": Param(HOUR, 60, 30 * DAY, "the window"),
    },
    RuleKind.MULTI_ACCOUNT_IP: {
        "min_accounts": Param(5, 2, 100_000, "accounts on one IP that raise a flag"),
        "window_seconds": Param(DAY, 60, 90 * DAY, "registrations and deposits this recent"),
    },
    RuleKind.BONUS_FARMING: {
        "min_deposit_max_minor": Param(10_00, 1, None, "a deposit up to this is a minimum one"),
        "min_count": Param(3, 2, 100_000, "minimum deposits in the window that raise a flag"),
        "window_seconds": Param(7 * DAY, 60, 90 * DAY, "the window"),
        "hold_next_withdrawal": Param(True, help="hold the flagged player's next withdrawal"),
    },
    RuleKind.LIST_BLOCK: {
        "bets": Param(False, help="check bets (each bet then takes its wallet lock first)"),
        "deposits": Param(True, help="check deposits (a hit holds the deposit)"),
        "withdrawals": Param(True, help="check withdrawals"),
    },
    RuleKind.LIST_REVIEW: {
        "bets": Param(False, help="check bets (each bet then takes its wallet lock first)"),
        "deposits": Param(True, help="check deposits"),
        "withdrawals": Param(True, help="check withdrawals"),
    },
}

# What each list rule looks up.
LIST_RULE_PURPOSE = {
    RuleKind.LIST_BLOCK: ListPurpose.BLOCK,
    RuleKind.LIST_REVIEW: ListPurpose.REVIEW,
}
_CALL_PARAMETER = {"bet": "bets", "deposit": "deposits", "withdrawal": "withdrawals"}

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "key": RuleKind.RAPID_DEPOSITS_WITHDRAWAL,
        "name": "Rapid small deposits, then a large withdrawal",
        "action": RuleAction.HOLD,
        "risk_points": 20,
        "description": "At least N deposits of at most X within T seconds, then a withdrawal of "
        "at least Y: typical of testing a stolen card, then cashing out. Holds the withdrawal.",
    },
    {
        "key": RuleKind.HIGH_STAKE_AFTER_LOGIN,
        "name": "High-value bet right after login",
        "action": RuleAction.DECLINE,
        "risk_points": 30,
        "description": "A stake of at least min_stake and at least stake_multiple times the "
        "player's typical stake, within within_seconds of the session's authentication (account "
        "takeover, scripts). Needs min_history_bets of history: a new player is never declined. "
        "Declines the bet (BET_DECLINED) and opens a case.",
    },
    {
        "key": RuleKind.WITHDRAWAL_VELOCITY,
        "name": "Withdrawal velocity",
        "action": RuleAction.HOLD,
        "risk_points": 10,
        "description": "More than max_withdrawals withdrawals within window_seconds: the next "
        "ones are held. Applies to trusted players too.",
    },
    {
        "key": RuleKind.MULTI_ACCOUNT_IP,
        "name": "Many accounts from one IP",
        "action": RuleAction.FLAG,
        "risk_points": 10,
        "description": "Pattern job: at least min_accounts players registered, or deposited, "
        "from one IP address within window_seconds. Flags each account (one case per player "
        "and address).",
    },
    {
        "key": RuleKind.BONUS_FARMING,
        "name": "Repeated minimum deposits (welcome-bonus farming)",
        "action": RuleAction.FLAG,
        "risk_points": 15,
        "description": "Pattern job: at least min_count deposits of at most min_deposit within "
        "window_seconds. Flags the player and, with hold_next_withdrawal, holds their next "
        "withdrawal for review.",
    },
    {
        "key": RuleKind.LIST_BLOCK,
        "name": "Value on a block list",
        "action": RuleAction.HOLD,
        "risk_points": 30,
        "description": "The call's address (or a range holding it), the player's country, the "
        "payment fingerprint or the player is on an enabled block list. Holds payments; set "
        "the action to decline to refuse bets (with bets on). Costs nothing while the block "
        "lists are empty.",
    },
    {
        "key": RuleKind.LIST_REVIEW,
        "name": "Value on a review list",
        "action": RuleAction.FLAG,
        "risk_points": 5,
        "description": "As the block-list rule, for review lists: opens a case and lets the "
        "call through.",
    },
]


def default_parameters(kind: str) -> dict[str, Any]:
    return {name: param.default for name, param in PARAMETERS[kind].items()}


def validate_parameters(kind: str, parameters: Any) -> dict[str, Any]:
    """The parameters of a rule of `kind`, checked and completed with defaults.
    Raises ValueError naming the first problem."""
    if kind not in PARAMETERS:
        raise ValueError(f"unknown rule kind {kind!r}")
    if parameters in (None, ""):
        parameters = {}
    if not isinstance(parameters, dict):
        raise ValueError("parameters must be a JSON object")
    schema = PARAMETERS[kind]
    unknown = sorted(set(parameters) - set(schema))
    if unknown:
        raise ValueError(f"unknown parameters: {', '.join(unknown)}; known: {', '.join(schema)}")
    return {
        name: param.check(name, parameters[name]) if name in parameters else param.default
        for name, param in schema.items()
    }


# --- real-time evaluation -------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveRule:
    key: str
    action: str
    parameters: dict[str, Any]
    four_eyes_minor: int | None = None
    version_id: int | None = None
    version_number: int | None = None


def _list_rule_applies(rule: ActiveRule, kind: str, lists: ListSnapshot) -> bool:
    name = _CALL_PARAMETER.get(kind)
    return (
        name is not None
        and rule.parameters.get(name, False)
        and lists.has(LIST_RULE_PURPOSE[rule.key])
    )


def _could_act(rules: dict[str, ActiveRule], lists: ListSnapshot, kind: str, amount: int) -> bool:
    for key in LIST_RULE_PURPOSE:
        rule = rules.get(key)
        if rule is not None and _list_rule_applies(rule, kind, lists):
            return True
    if kind == "withdrawal":
        return True
    if kind == "bet":
        rule = rules.get(RuleKind.HIGH_STAKE_AFTER_LOGIN)
        return rule is not None and amount >= rule.parameters["min_stake_minor"]
    return False


def _needs_figures(
    rules: dict[str, ActiveRule], lists: ListSnapshot, request: hooks.ScreeningRequest
) -> bool:
    for key in LIST_RULE_PURPOSE:
        rule = rules.get(key)
        if rule is not None and _list_rule_applies(rule, request.kind, lists):
            return True
    if request.kind == "withdrawal":
        return any(
            key in rules
            for key in (
                RuleKind.RAPID_DEPOSITS_WITHDRAWAL,
                RuleKind.WITHDRAWAL_VELOCITY,
                RuleKind.BONUS_FARMING,
            )
        )
    if request.kind == "bet":
        rule = rules.get(RuleKind.HIGH_STAKE_AFTER_LOGIN)
        if rule is None or request.seconds_since_authentication is None:
            return False
        p = rule.parameters
        return (
            request.seconds_since_authentication <= p["within_seconds"]
            and request.amount_minor >= p["min_stake_minor"]
        )
    return False


@dataclass(frozen=True)
class RuleSet:
    """The enabled rules' live versions, the versions running in shadow (rule key -> version,
    a disabled rule's shadow included) and the lists, as the screener needs them."""

    by_key: dict[str, ActiveRule] = field(default_factory=dict)
    shadows: dict[str, ActiveRule] = field(default_factory=dict)
    lists: ListSnapshot = field(default_factory=ListSnapshot)

    def get(self, key: str) -> ActiveRule | None:
        return self.by_key.get(key)

    def versions_of(self, key: str) -> list[ActiveRule]:
        """The live and the shadow version of `key` that are running (for the figures' reach)."""
        return [rule for rule in (self.by_key.get(key), self.shadows.get(key)) if rule]

    def could_act(self, kind: str, amount_minor: int) -> bool:
        """Whether `needs_baseline` could be true for some call of this kind and amount,
        whatever its session (the wallet API then reads the session first)."""
        return _could_act(self.by_key, self.lists, kind, amount_minor) or (
            bool(self.shadows) and _could_act(self.shadows, self.lists, kind, amount_minor)
        )

    def needs_baseline(self, request: hooks.ScreeningRequest) -> bool:
        """Whether any live rule could fire on this request; if not, the figures are not read."""
        return _needs_figures(self.by_key, self.lists, request)

    def shadow_needs_baseline(self, request: hooks.ScreeningRequest) -> bool:
        return bool(self.shadows) and _needs_figures(self.shadows, self.lists, request)


@dataclass(frozen=True)
class Baseline:
    """One wallet's precomputed figures and the player's standing, read for the call screened."""

    bet_count: int = 0
    stake_ewma_minor: int = 0
    deposit_times: tuple[int, ...] = ()
    deposit_amounts: tuple[int, ...] = ()
    withdrawal_times: tuple[int, ...] = ()
    trusted: bool = False
    hold_next_withdrawal: bool = False
    # Rules staff have snoozed for this player (fraud.models.RuleSnooze): never a hit.
    snoozed: frozenset[str] = frozenset()
    country: str = ""


def _hit(rule: ActiveRule, **figures) -> dict[str, Any]:
    return {**_decided_by(rule), "action": rule.action, "figures": figures}


def _decided_by(rule: ActiveRule) -> dict[str, Any]:
    """The rule and the version that decided a hit (recorded on RuleHit.version: the rule
    statistics compare versions by it). From the rule cache: no query."""
    return {"rule": rule.key, "version_id": rule.version_id, "version": rule.version_number}


# The order in which hits are listed (and recorded).
EVALUATION_ORDER = (
    RuleKind.LIST_BLOCK,
    RuleKind.LIST_REVIEW,
    RuleKind.HIGH_STAKE_AFTER_LOGIN,
    RuleKind.RAPID_DEPOSITS_WITHDRAWAL,
    RuleKind.WITHDRAWAL_VELOCITY,
    RuleKind.BONUS_FARMING,
)


def with_trust(
    request: hooks.ScreeningRequest, baseline: Baseline, lists: ListSnapshot
) -> Baseline:
    """The baseline with `trusted` also set when the player or the call is on a trust list."""
    if baseline.trusted or not lists.has(ListPurpose.TRUST):
        return baseline
    if _list_matches(ListPurpose.TRUST, request, baseline, lists):
        return dataclasses.replace(baseline, trusted=True)
    return baseline


def _list_matches(purpose, request, baseline, lists) -> list[dict]:
    return lists.matches(
        purpose,
        player_id=request.player_id,
        ip=request.client_ip,
        country=baseline.country or None,
        fingerprint=getattr(request, "payment_fingerprint", None),
    )


def rule_hit(
    rule: ActiveRule,
    request: hooks.ScreeningRequest,
    baseline: Baseline,
    now: int,
    lists: ListSnapshot,
) -> dict[str, Any] | None:
    """What one rule version says about one request (None: no hit). `baseline.trusted` must
    already include the trust lists (with_trust)."""
    key = rule.key
    if key in LIST_RULE_PURPOSE:
        if not _list_rule_applies(rule, request.kind, lists):
            return None
        found = _list_matches(LIST_RULE_PURPOSE[key], request, baseline, lists)
        if not found:
            return None
        return _hit(rule, on_lists=found, amount_minor=request.amount_minor)
    if request.kind == "bet":
        if key == RuleKind.HIGH_STAKE_AFTER_LOGIN and not baseline.trusted:
            return _high_stake(rule, request, baseline)
        return None
    if request.kind != "withdrawal":
        return None
    if key == RuleKind.RAPID_DEPOSITS_WITHDRAWAL and not baseline.trusted:
        return _rapid_deposits(rule, request, baseline, now)
    if key == RuleKind.WITHDRAWAL_VELOCITY:
        return _velocity(rule, baseline, now)
    if (
        key == RuleKind.BONUS_FARMING
        and baseline.hold_next_withdrawal
        and rule.parameters["hold_next_withdrawal"]
    ):
        return {
            **_decided_by(rule),
            "action": RuleAction.HOLD,
            "figures": {"hold_next_withdrawal": True, "amount_minor": request.amount_minor},
        }
    return None


def strongest(hits) -> str:
    if not hits:
        return RuleAction.ALLOW
    return max((hit["action"] for hit in hits), key=lambda a: ACTION_STRENGTH[a])


def evaluate(
    request: hooks.ScreeningRequest, rules: RuleSet, baseline: Baseline, now: int
) -> hooks.Screening:
    """Apply the enabled rules' live versions to one request; `now` is epoch seconds."""
    baseline = with_trust(request, baseline, rules.lists)
    hits = []
    for key in EVALUATION_ORDER:
        rule = rules.by_key.get(key)
        if rule is not None:
            hit = rule_hit(rule, request, baseline, now, rules.lists)
            if hit:
                hits.append(hit)
    if baseline.snoozed:
        hits = [hit for hit in hits if hit["rule"] not in baseline.snoozed]
    if not hits:
        return hooks.ALLOW_ALL
    return hooks.Screening(action=strongest(hits), hits=tuple(hits))


def evaluate_shadows(
    request: hooks.ScreeningRequest, rules: RuleSet, baseline: Baseline, now: int
) -> list[dict[str, Any]]:
    """For each version in shadow: what it would decide on this request beside what the same
    rule's live version decides (both alone). Pure; decides nothing."""
    baseline = with_trust(request, baseline, rules.lists)
    out = []
    for key, shadow in rules.shadows.items():
        live = rules.by_key.get(key)
        live_hit = rule_hit(live, request, baseline, now, rules.lists) if live else None
        shadow_hit = rule_hit(shadow, request, baseline, now, rules.lists)
        out.append(
            {
                "version_id": shadow.version_id,
                "live_version_id": live.version_id if live else None,
                "rule_key": key,
                "live_action": live_hit["action"] if live_hit else RuleAction.ALLOW,
                "shadow_action": shadow_hit["action"] if shadow_hit else RuleAction.ALLOW,
                "shadow_hit": shadow_hit,
            }
        )
    return out


def _high_stake(rule, request, baseline) -> dict | None:
    p = rule.parameters
    since_auth = request.seconds_since_authentication
    if since_auth is None or since_auth > p["within_seconds"]:
        return None
    if request.amount_minor < p["min_stake_minor"]:
        return None
    # No history, no judgement: a player's first bets are never declined.
    if baseline.bet_count < p["min_history_bets"] or baseline.stake_ewma_minor <= 0:
        return None
    if request.amount_minor < p["stake_multiple"] * baseline.stake_ewma_minor:
        return None
    return _hit(
        rule,
        stake_minor=request.amount_minor,
        typical_stake_minor=baseline.stake_ewma_minor,
        bets_in_history=baseline.bet_count,
        seconds_since_authentication=round(since_auth, 3),
        currency=request.currency,
    )


def _rapid_deposits(rule, request, baseline, now) -> dict | None:
    p = rule.parameters
    if request.amount_minor < p["withdrawal_min_minor"]:
        return None
    since = now - p["window_seconds"]
    small = [
        amount
        for at, amount in zip(baseline.deposit_times, baseline.deposit_amounts, strict=False)
        if at >= since and amount <= p["small_deposit_max_minor"]
    ]
    if len(small) < p["min_small_deposits"]:
        return None
    return _hit(
        rule,
        small_deposits=len(small),
        small_deposits_total_minor=sum(small),
        window_seconds=p["window_seconds"],
        withdrawal_minor=request.amount_minor,
        currency=request.currency,
    )


def _velocity(rule, baseline, now) -> dict | None:
    p = rule.parameters
    since = now - p["window_seconds"]
    recent = sum(1 for at in baseline.withdrawal_times if at >= since)
    if recent < p["max_withdrawals"]:
        return None
    return _hit(
        rule,
        withdrawals_in_window=recent,
        max_withdrawals=p["max_withdrawals"],
        window_seconds=p["window_seconds"],
    )
