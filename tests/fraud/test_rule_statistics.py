"""Rule statistics, exact against seeded hits and cases: hits per UTC day, actions, cases
opened and decided, outcome mix, false-positive rate, median time to decision; the admin page
and the API agree with the selector."""

from datetime import UTC, date, datetime, timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fraud import statistics
from fraud.models import Case, RuleHit
from tests import factories

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 3, 1, tzinfo=UTC)
VELOCITY, FARMING = "withdrawal_velocity", "bonus_farming"


def _hit(player, rule, action, at):
    hit = RuleHit.objects.create(player=player, rule_key=rule, action=action)
    RuleHit.objects.filter(pk=hit.pk).update(created_at=at)


def _case(player, rules, opened, *, status="open", decided_after=None, outcome="", level=1):
    case = Case.objects.create(
        kind="flag",
        player=player,
        rule_keys=list(rules),
        status=status,
        outcome=outcome,
        level=level,
    )
    Case.objects.filter(pk=case.pk).update(
        created_at=opened,
        decided_at=opened + decided_after if decided_after is not None else None,
    )
    return case


@pytest.fixture
def seeded():
    player = factories.make_player()
    # Hits: velocity 2 on day 1 (hold, hold), 1 on day 3 (allow); farming 1 on day 2 (flag);
    # one velocity hit the day before the window and one the day after: not counted.
    _hit(player, VELOCITY, "hold", DAY1 + timedelta(hours=1))
    _hit(player, VELOCITY, "hold", DAY1 + timedelta(hours=23, minutes=59))
    _hit(player, VELOCITY, "allow", DAY1 + timedelta(days=2, hours=5))
    _hit(player, FARMING, "flag", DAY1 + timedelta(days=1))
    _hit(player, VELOCITY, "hold", DAY1 - timedelta(seconds=1))
    _hit(player, VELOCITY, "hold", DAY1 + timedelta(days=3))
    # Cases with velocity: decided after 10 min (false positive), 30 min (legitimate),
    # 50 min and 70 min (confirmed fraud), one open; one with both rules.
    h = timedelta(hours=1)
    _case(
        player,
        [VELOCITY],
        DAY1 + h,
        status="approved",
        decided_after=timedelta(minutes=10),
        outcome="false_positive",
    )
    _case(
        player,
        [VELOCITY],
        DAY1 + h,
        status="approved",
        decided_after=timedelta(minutes=30),
        outcome="legitimate",
    )
    _case(
        player,
        [VELOCITY],
        DAY1 + 2 * h,
        status="rejected",
        decided_after=timedelta(minutes=50),
        outcome="confirmed_fraud",
        level=2,
    )
    _case(
        player,
        [VELOCITY, FARMING],
        DAY1 + 3 * h,
        status="rejected",
        decided_after=timedelta(minutes=70),
        outcome="confirmed_fraud",
    )
    _case(player, [VELOCITY], DAY1 + 4 * h)
    _case(
        player,
        [VELOCITY],
        DAY1 - h,
        status="approved",
        decided_after=timedelta(minutes=1),
        outcome="false_positive",
    )  # before the window
    return player


def test_figures_per_rule_are_exact(seeded):
    figures = {
        row.rule: row
        for row in statistics.rule_statistics(since=date(2026, 3, 1), until=date(2026, 3, 3))
    }
    velocity = figures[VELOCITY]
    assert velocity.hits_per_day == [
        (date(2026, 3, 1), 2),
        (date(2026, 3, 2), 0),
        (date(2026, 3, 3), 1),
    ]
    assert velocity.hits == 3
    assert velocity.actions == {"allow": 1, "flag": 0, "hold": 2, "decline": 0}
    assert (velocity.cases_opened, velocity.decided, velocity.approved, velocity.rejected) == (
        5,
        4,
        2,
        2,
    )
    assert velocity.escalated == 1
    assert velocity.outcomes == {"confirmed_fraud": 2, "false_positive": 1, "legitimate": 1}
    assert velocity.false_positive_rate == 0.25
    assert velocity.median_decision_seconds == 40 * 60  # of 10, 30, 50, 70 minutes
    farming = figures[FARMING]
    assert farming.hits_per_day == [
        (date(2026, 3, 1), 0),
        (date(2026, 3, 2), 1),
        (date(2026, 3, 3), 0),
    ]
    assert (farming.cases_opened, farming.false_positive_rate) == (1, 0.0)
    assert farming.median_decision_seconds == 70 * 60
    quiet = figures["high_stake_after_login"]
    assert (quiet.hits, quiet.cases_opened, quiet.false_positive_rate) == (0, 0, None)
    assert quiet.median_decision_seconds is None
    only = statistics.rule_statistics(since=date(2026, 3, 1), until=date(2026, 3, 1), rule=FARMING)
    assert [row.rule for row in only] == [FARMING] and only[0].hits == 0
    with pytest.raises(ValueError):
        statistics.rule_statistics(since=date(2026, 3, 2), until=date(2026, 3, 1))


def _client(*groups):
    user = factories.UserFactory(groups=list(groups))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_the_api_gives_the_same_figures(seeded):
    client = _client("back_office")
    response = client.get("/api/v1/cases/rule-stats?from=2026-03-01&to=2026-03-03")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"]) == ("2026-03-01", "2026-03-03")
    velocity = next(row for row in body["results"] if row["rule"] == VELOCITY)
    assert velocity["hits_per_day"] == [
        {"day": "2026-03-01", "hits": 2},
        {"day": "2026-03-02", "hits": 0},
        {"day": "2026-03-03", "hits": 1},
    ]
    assert velocity["outcomes"] == {"confirmed_fraud": 2, "false_positive": 1, "legitimate": 1}
    assert velocity["false_positive_rate"] == 0.25
    assert velocity["median_decision_seconds"] == 2400.0
    assert velocity["decided"] == 4 and velocity["actions"]["hold"] == 2
    for bad, field in (
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-03-05&to=2026-03-01", "from"),
        ("from=2020-01-01&to=2026-03-01", "from"),
    ):
        refused = client.get(f"/api/v1/cases/rule-stats?{bad}")
        assert refused.status_code == 400, bad
        assert field in refused.content.decode(), bad
    assert _client("support").get("/api/v1/cases/rule-stats").status_code == 403
