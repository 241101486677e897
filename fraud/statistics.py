"""Reads of the rule statistics: per rule, hits per day, the actions the hits took, the cases
opened and what they turned out to be (outcome labels), the false-positive rate and the median
time to a decision. Two grouped queries over indexed time windows (RuleHit.created_at,
Case.created_at); never a Python loop over rows.

Keyed by rule key. Days are UTC. A case on which several rules fired counts for each of them.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection

from fraud.choices import CaseOutcome, RuleAction, RuleKind

MAX_DAYS = 366

_HITS_SQL = """
SELECT rule_key, (created_at AT TIME ZONE 'UTC')::date AS day, action, count(*)
FROM fraud_rulehit
WHERE created_at >= %(start)s AND created_at < %(end)s
GROUP BY 1, 2, 3
"""

# The median is over decided cases only: seconds from opening to the final decision.
_CASES_SQL = """
SELECT k.rule_key,
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
FROM fraud_case c
CROSS JOIN LATERAL unnest(c.rule_keys) AS k (rule_key)
WHERE c.created_at >= %(start)s AND c.created_at < %(end)s
GROUP BY 1
"""


@dataclass
class RuleStatistics:
    rule: str
    name: str
    hits_per_day: list[tuple[date, int]]
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


def window(since: date, until: date) -> tuple[datetime, datetime]:
    """[since 00:00 UTC, the day after `until` 00:00 UTC)."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


def rule_statistics(*, since: date, until: date, rule: str | None = None) -> list[RuleStatistics]:
    """Figures per rule for the days since..until (inclusive, UTC): every known rule, plus any
    other key that fired in the window; only `rule` when given."""
    if until < since:
        raise ValueError("until is before since")
    if (until - since).days + 1 > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days")
    start, end = window(since, until)
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    params = {"start": start, "end": end}
    with connection.cursor() as cursor:
        cursor.execute(_HITS_SQL, params)
        hit_rows = cursor.fetchall()
        cursor.execute(_CASES_SQL, params)
        case_rows = cursor.fetchall()
    names = dict(RuleKind.choices)
    keys = set(names) | {row[0] for row in hit_rows} | {row[0] for row in case_rows}
    if rule is not None:
        keys = {rule}
    stats = {
        key: RuleStatistics(
            rule=key,
            name=str(names.get(key, key)),
            hits_per_day=[],
            actions={action: 0 for action in RuleAction.values},
            outcomes={outcome: 0 for outcome in CaseOutcome.values},
        )
        for key in sorted(keys)
    }
    per_day: dict[str, dict[date, int]] = {key: {} for key in stats}
    for key, day, action, count in hit_rows:
        if key not in stats:
            continue
        entry = stats[key]
        entry.hits += count
        entry.actions[action] = entry.actions.get(action, 0) + count
        per_day[key][day] = per_day[key].get(day, 0) + count
    for key, opened, approved, rejected, fraud, false_pos, legit, escalated, median in case_rows:
        if key not in stats:
            continue
        entry = stats[key]
        entry.cases_opened = opened
        entry.approved = approved
        entry.rejected = rejected
        entry.escalated = escalated
        entry.outcomes = {
            CaseOutcome.CONFIRMED_FRAUD.value: fraud,
            CaseOutcome.FALSE_POSITIVE.value: false_pos,
            CaseOutcome.LEGITIMATE.value: legit,
        }
        entry.median_decision_seconds = float(median) if median is not None else None
    for key, entry in stats.items():
        entry.hits_per_day = [(day, per_day[key].get(day, 0)) for day in days]
    return list(stats.values())
