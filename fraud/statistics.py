"""Reads of the rule statistics: per rule and per rule version, hits per day, the actions the
hits took, the cases opened and what they turned out to be (outcome labels), the false-positive
rate and the median time to a decision. Grouped queries over indexed time windows
(RuleHit.created_at, Case.created_at); never a Python loop over rows.

Keyed by rule key, and within a rule by the live version that decided each hit
(RuleHit.version). A case counts for a version when a hit of that version opened it (its
RuleHit rows name the case). Hits recorded before versions were recorded on hits have no version:
they form the rule's "before versions were recorded" row. Days are UTC. A case on which several
rules fired counts for each of them.
"""

# The statements are composed from constants of this module; every value is a bound parameter.
# ruff: noqa: S608

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection

from fraud.choices import CaseOutcome, RuleAction, RuleKind

MAX_DAYS = 366

_HITS_SQL = """
SELECT rule_key, version_id, (created_at AT TIME ZONE 'UTC')::date AS day, action, count(*)
FROM fraud_rulehit
WHERE created_at >= %(start)s AND created_at < %(end)s
GROUP BY 1, 2, 3, 4
"""

_CASE_FIGURES = """
       count(*) AS opened,
       count(*) FILTER (WHERE c.status = 'approved') AS approved,
       count(*) FILTER (WHERE c.status = 'rejected') AS rejected,
       count(*) FILTER (WHERE c.outcome = 'confirmed_fraud') AS confirmed_fraud,
       count(*) FILTER (WHERE c.outcome = 'false_positive') AS false_positive,
       count(*) FILTER (WHERE c.outcome = 'legitimate') AS legitimate,
       count(*) FILTER (WHERE c.level = 2) AS escalated,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM c.decided_at - c.created_at)
       ) FILTER (WHERE c.decided_at IS NOT NULL) AS median_seconds
"""

# The median is over decided cases only: seconds from opening to the final decision.
_CASES_SQL = f"""
SELECT k.rule_key, {_CASE_FIGURES}
FROM fraud_case c
CROSS JOIN LATERAL unnest(c.rule_keys) AS k (rule_key)
WHERE c.created_at >= %(start)s AND c.created_at < %(end)s
GROUP BY 1
"""

# Per version: each (rule, version) whose hits a case holds, once per case (the case's hits by
# the fraud_rulehit case index).
_VERSION_CASES_SQL = f"""
SELECT k.rule_key, k.version_id, {_CASE_FIGURES}
FROM fraud_case c
CROSS JOIN LATERAL (
    SELECT DISTINCT h.rule_key, h.version_id FROM fraud_rulehit h WHERE h.case_id = c.id
) AS k
WHERE c.created_at >= %(start)s AND c.created_at < %(end)s
GROUP BY 1, 2
"""

# The versions that were live at some moment of the window (they get a row even without a hit).
_LIVE_VERSIONS_SQL = """
SELECT v.id, r.key, v.number, v.state, v.published_at, v.superseded_at
FROM fraud_ruleversion v JOIN fraud_fraudrule r ON r.id = v.rule_id
WHERE v.id = ANY(%(ids)s)
   OR (v.state IN ('live', 'superseded') AND v.published_at IS NOT NULL
       AND v.published_at < %(end)s AND (v.superseded_at IS NULL OR v.superseded_at >= %(start)s))
"""

BEFORE_VERSIONS = "before versions were recorded"


class VersionNotFound(ValueError):
    """A version filter that names no version of the rule (or names one without a rule)."""


@dataclass(kw_only=True)
class Figures:
    """What the statistics say about a rule, or about one of its versions."""

    hits_per_day: list[tuple[date, int]] = field(default_factory=list)
    hits: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    cases_opened: int = 0
    approved: int = 0
    rejected: int = 0
    escalated: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    median_decision_seconds: float | None = None

    @property
    def decided(self) -> int:
        return self.approved + self.rejected

    @property
    def labelled(self) -> int:
        return sum(self.outcomes.values())

    @property
    def false_positive_rate(self) -> float | None:
        """Share of the labelled cases that were false positives; None without any label."""
        if not self.labelled:
            return None
        return self.outcomes.get(CaseOutcome.FALSE_POSITIVE, 0) / self.labelled

    def _start(self) -> None:
        self.actions = {action: 0 for action in RuleAction.values}
        self.outcomes = {outcome: 0 for outcome in CaseOutcome.values}

    def _add_hits(self, action: str, count: int) -> None:
        self.hits += count
        self.actions[action] = self.actions.get(action, 0) + count

    def _set_cases(self, row) -> None:
        opened, approved, rejected, fraud, false_pos, legit, escalated, median = row
        self.cases_opened = opened
        self.approved = approved
        self.rejected = rejected
        self.escalated = escalated
        self.outcomes = {
            CaseOutcome.CONFIRMED_FRAUD.value: fraud,
            CaseOutcome.FALSE_POSITIVE.value: false_pos,
            CaseOutcome.LEGITIMATE.value: legit,
        }
        self.median_decision_seconds = float(median) if median is not None else None


@dataclass(kw_only=True)
class VersionStatistics(Figures):
    """The figures of the hits one version decided (version None: hits recorded before versions
    were recorded on hits) and of the cases those hits opened."""

    rule: str
    version_id: int | None
    number: int | None
    state: str = ""
    published_at: datetime | None = None
    superseded_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"version {self.number}" if self.number is not None else BEFORE_VERSIONS


@dataclass(kw_only=True)
class RuleStatistics(Figures):
    rule: str
    name: str
    # Per version, oldest first (the "before versions were recorded" row, when there is one,
    # first of all): every version live at some moment of the window, and any other that hit.
    versions: list[VersionStatistics] = field(default_factory=list)


def window(since: date, until: date) -> tuple[datetime, datetime]:
    """[since 00:00 UTC, the day after `until` 00:00 UTC)."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


def rule_statistics(
    *, since: date, until: date, rule: str | None = None, version: int | None = None
) -> list[RuleStatistics]:
    """Figures per rule, and per version of each rule, for the days since..until (inclusive,
    UTC): every known rule, plus any other key that fired in the window; only `rule` when
    given, and of its versions only number `version` when given (ValueError if the rule has no
    such version)."""
    if until < since:
        raise ValueError("until is before since")
    if (until - since).days + 1 > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days")
    if version is not None and rule is None:
        raise VersionNotFound("a version is chosen within a rule: give the rule too")
    start, end = window(since, until)
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    params = {"start": start, "end": end}
    with connection.cursor() as cursor:
        cursor.execute(_HITS_SQL, params)
        hit_rows = cursor.fetchall()
        cursor.execute(_CASES_SQL, params)
        case_rows = cursor.fetchall()
        cursor.execute(_VERSION_CASES_SQL, params)
        version_case_rows = cursor.fetchall()
        seen_ids = sorted(
            {row[1] for row in hit_rows if row[1] is not None}
            | {row[1] for row in version_case_rows if row[1] is not None}
        )
        cursor.execute(_LIVE_VERSIONS_SQL, {**params, "ids": seen_ids})
        version_rows = cursor.fetchall()
    names = dict(RuleKind.choices)
    keys = set(names) | {row[0] for row in hit_rows} | {row[0] for row in case_rows}
    if rule is not None:
        keys = {rule}
    stats: dict[str, RuleStatistics] = {}
    for key in sorted(keys):
        stats[key] = RuleStatistics(rule=key, name=str(names.get(key, key)))
        stats[key]._start()

    versions: dict[tuple[str, int | None], VersionStatistics] = {}

    def version_entry(key: str, version_id: int | None) -> VersionStatistics:
        entry = versions.get((key, version_id))
        if entry is None:
            entry = versions[(key, version_id)] = VersionStatistics(
                rule=key, version_id=version_id, number=None
            )
            entry._start()
        return entry

    for version_id, key, number, state, published_at, superseded_at in version_rows:
        if key not in stats:
            continue
        entry = version_entry(key, version_id)
        entry.number, entry.state = number, state
        entry.published_at, entry.superseded_at = published_at, superseded_at

    per_day: dict[tuple, dict[date, int]] = {}
    for key, version_id, day, action, count in hit_rows:
        if key not in stats:
            continue
        stats[key]._add_hits(action, count)
        version_entry(key, version_id)._add_hits(action, count)
        for bucket in (key, (key, version_id)):
            counts = per_day.setdefault(bucket, {})
            counts[day] = counts.get(day, 0) + count
    for key, *figures in case_rows:
        if key in stats:
            stats[key]._set_cases(figures)
    for key, version_id, *figures in version_case_rows:
        if key in stats:
            version_entry(key, version_id)._set_cases(figures)

    for key, entry in stats.items():
        entry.hits_per_day = [(day, per_day.get(key, {}).get(day, 0)) for day in days]
    for (key, version_id), entry in versions.items():
        counts = per_day.get((key, version_id), {})
        entry.hits_per_day = [(day, counts.get(day, 0)) for day in days]
        stats[key].versions.append(entry)
    for entry in stats.values():
        entry.versions.sort(key=lambda v: (v.number is not None, v.number or 0, v.version_id or 0))
    if version is not None:
        chosen = [v for v in stats[rule].versions if v.number == version]
        if not chosen:
            chosen = _version_outside_window(rule, version, days)
        stats[rule].versions = chosen
    return list(stats.values())


def _version_outside_window(rule: str, number: int, days: list[date]) -> list[VersionStatistics]:
    """Version `number` of `rule` when it neither hit nor was live in the window: a row of
    zeros (ValueError when the rule has no such version)."""
    from fraud.models import RuleVersion

    found = RuleVersion.objects.filter(rule__key=rule, number=number).first()
    if found is None:
        raise VersionNotFound(f"rule {rule} has no version {number}")
    entry = VersionStatistics(
        rule=rule,
        version_id=found.pk,
        number=found.number,
        state=found.state,
        published_at=found.published_at,
        superseded_at=found.superseded_at,
        hits_per_day=[(day, 0) for day in days],
    )
    entry._start()
    return [entry]
