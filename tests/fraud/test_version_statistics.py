"""Rule statistics per version: each hit records the live version that decided it (screener,
pattern jobs), shadow decisions name the live version they were compared against, and the
figures per version (hits per day, actions, cases, outcome mix, false-positive rate, median time
to decision) are exact in the selector, the API and the admin page. Old hits get their version
back only where the version history says it exactly."""

import importlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fraud import screening, selectors, services, statistics
from fraud.choices import RuleKind, VersionState
from fraud.models import Case, FraudRule, RuleHit, RuleVersion, ShadowDecision
from tests import factories

pytestmark = pytest.mark.django_db

VELOCITY = RuleKind.WITHDRAWAL_VELOCITY
DAY1 = datetime(2026, 3, 1, tzinfo=UTC)


def _officer():
    return factories.UserFactory(is_superuser=True)


def _velocity_versions():
    """Version 1 (seeded, live since versions began) superseded by version 2 at DAY1 + 2 days
    12:00; the history set to known times."""
    rule = FraudRule.objects.get(key=VELOCITY)
    v1 = RuleVersion.objects.get(rule=rule, state=VersionState.LIVE)
    draft = services.create_draft(rule=rule, actor=_officer(), parameters={"max_withdrawals": 2})
    v2 = services.publish_version(version_id=draft.pk, actor=_officer(), reason="tighter")
    switch = DAY1 + timedelta(days=1, hours=12)
    RuleVersion.objects.filter(pk=v1.pk).update(published_at=DAY1 - timedelta(days=10))
    RuleVersion.objects.filter(pk=v1.pk).update(superseded_at=switch)
    RuleVersion.objects.filter(pk=v2.pk).update(published_at=switch)
    return rule, v1, v2


def _hit(player, version, action, at, *, case=None, rule=VELOCITY):
    hit = RuleHit.objects.create(
        player=player, rule_key=rule, version=version, action=action, case=case
    )
    RuleHit.objects.filter(pk=hit.pk).update(created_at=at)
    return hit


def _case(player, opened, *, status="open", decided_after=None, outcome="", level=1):
    case = Case.objects.create(
        kind="hold",
        player=player,
        rule_keys=[VELOCITY],
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
    """Days 1 to 3. Version 1: hits on day 1 (hold, hold) and day 2 (allow), cases decided in
    10 min (false positive) and 30 min (confirmed fraud), one open. Version 2: hits on day 2
    (hold) and day 3 (hold, hold, hold); cases decided in 5 min (false positive), 15 min
    (false positive), 25 min (legitimate, escalated). One hit from before versions were
    recorded (no version) on day 1, with a case decided in 60 min (confirmed fraud)."""
    _rule, v1, v2 = _velocity_versions()
    player = factories.make_player()
    h = timedelta(hours=1)

    def decided(opened, minutes, outcome, status, **kwargs):
        return _case(
            player,
            opened,
            status=status,
            decided_after=timedelta(minutes=minutes),
            outcome=outcome,
            **kwargs,
        )

    c1 = decided(DAY1 + h, 10, "false_positive", "approved")
    c2 = decided(DAY1 + 2 * h, 30, "confirmed_fraud", "rejected")
    c3 = _case(player, DAY1 + timedelta(days=1, hours=3))
    _hit(player, v1, "hold", DAY1 + h, case=c1)
    _hit(player, v1, "hold", DAY1 + 2 * h, case=c2)
    _hit(player, v1, "allow", DAY1 + timedelta(days=1, hours=3), case=c3)

    c4 = decided(DAY1 + timedelta(days=1, hours=13), 5, "false_positive", "approved")
    c5 = decided(DAY1 + timedelta(days=2, hours=1), 15, "false_positive", "approved")
    c6 = decided(DAY1 + timedelta(days=2, hours=2), 25, "legitimate", "approved", level=2)
    _hit(player, v2, "hold", DAY1 + timedelta(days=1, hours=13), case=c4)
    _hit(player, v2, "hold", DAY1 + timedelta(days=2, hours=1), case=c5)
    _hit(player, v2, "hold", DAY1 + timedelta(days=2, hours=2), case=c6)
    _hit(player, v2, "hold", DAY1 + timedelta(days=2, hours=3))
    _hit(player, v2, "hold", DAY1 + timedelta(days=3))  # the day after the window

    c7 = decided(DAY1 + 5 * h, 60, "confirmed_fraud", "rejected")
    _hit(player, None, "hold", DAY1 + 5 * h, case=c7)
    return v1, v2


def _window():
    return statistics.rule_statistics(since=date(2026, 3, 1), until=date(2026, 3, 3), rule=VELOCITY)


def test_figures_per_version_are_exact(seeded):
    v1, v2 = seeded
    [velocity] = _window()
    # The rule's own figures are the sum of its versions'.
    assert velocity.hits == 8 and velocity.cases_opened == 7
    before, first, second = velocity.versions
    assert (before.version_id, before.number, before.label) == (
        None,
        None,
        "before versions were recorded",
    )
    assert (first.version_id, first.number, first.state) == (v1.pk, 1, "superseded")
    assert (second.version_id, second.number, second.state) == (v2.pk, 2, "live")

    assert first.hits_per_day == [
        (date(2026, 3, 1), 2),
        (date(2026, 3, 2), 1),
        (date(2026, 3, 3), 0),
    ]
    assert first.hits == 3
    assert first.actions == {"allow": 1, "flag": 0, "hold": 2, "decline": 0}
    assert (first.cases_opened, first.decided, first.approved, first.rejected) == (3, 2, 1, 1)
    assert first.outcomes == {"confirmed_fraud": 1, "false_positive": 1, "legitimate": 0}
    assert first.false_positive_rate == 0.5
    assert first.median_decision_seconds == 20 * 60  # of 10 and 30 minutes
    assert first.escalated == 0

    assert second.hits_per_day == [
        (date(2026, 3, 1), 0),
        (date(2026, 3, 2), 1),
        (date(2026, 3, 3), 3),
    ]
    assert second.actions == {"allow": 0, "flag": 0, "hold": 4, "decline": 0}
    assert (second.cases_opened, second.decided, second.approved, second.rejected) == (3, 3, 3, 0)
    assert second.outcomes == {"confirmed_fraud": 0, "false_positive": 2, "legitimate": 1}
    assert second.false_positive_rate == pytest.approx(2 / 3)
    assert second.median_decision_seconds == 15 * 60  # of 5, 15 and 25 minutes
    assert second.escalated == 1

    assert before.hits == 1 and before.outcomes["confirmed_fraud"] == 1
    assert before.median_decision_seconds == 60 * 60

    [only] = statistics.rule_statistics(
        since=date(2026, 3, 1), until=date(2026, 3, 3), rule=VELOCITY, version=2
    )
    assert [v.number for v in only.versions] == [2] and only.versions[0].hits == 4
    with pytest.raises(statistics.VersionNotFound):
        statistics.rule_statistics(since=date(2026, 3, 1), until=date(2026, 3, 3), version=2)
    with pytest.raises(statistics.VersionNotFound):
        statistics.rule_statistics(
            since=date(2026, 3, 1), until=date(2026, 3, 3), rule=VELOCITY, version=9
        )


def test_a_version_live_in_the_window_without_hits_has_a_row_of_zeros(seeded):
    [velocity] = statistics.rule_statistics(
        since=date(2026, 2, 25), until=date(2026, 2, 26), rule=VELOCITY
    )
    assert [(v.number, v.hits, v.cases_opened) for v in velocity.versions] == [(1, 0, 0)]
    # Version 2 was not live then; asked for by number, it is a row of zeros.
    [velocity] = statistics.rule_statistics(
        since=date(2026, 2, 25), until=date(2026, 2, 26), rule=VELOCITY, version=2
    )
    assert [(v.number, v.hits, v.hits_per_day[0][1]) for v in velocity.versions] == [(2, 0, 0)]


def _client(*groups):
    user = factories.UserFactory(groups=list(groups))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_the_api_gives_the_figures_per_version(seeded):
    v1, v2 = seeded
    client = _client("back_office")
    response = client.get(f"/api/v1/cases/rule-stats?from=2026-03-01&to=2026-03-03&rule={VELOCITY}")
    assert response.status_code == 200, response.content
    [velocity] = response.json()["results"]
    # The rule's fields as before, the versions added.
    assert velocity["hits"] == 8 and velocity["rule"] == VELOCITY
    by_number = {row["version"]: row for row in velocity["versions"]}
    assert set(by_number) == {None, 1, 2}
    first, second = by_number[1], by_number[2]
    assert first["version_id"] == v1.pk and second["version_id"] == v2.pk
    assert first["hits_per_day"] == [
        {"day": "2026-03-01", "hits": 2},
        {"day": "2026-03-02", "hits": 1},
        {"day": "2026-03-03", "hits": 0},
    ]
    assert first["false_positive_rate"] == 0.5 and first["median_decision_seconds"] == 1200.0
    assert second["outcomes"] == {"confirmed_fraud": 0, "false_positive": 2, "legitimate": 1}
    assert second["decided"] == 3 and second["escalated"] == 1
    assert second["median_decision_seconds"] == 900.0
    assert by_number[None]["label"] == "before versions were recorded"

    only = client.get(
        f"/api/v1/cases/rule-stats?from=2026-03-01&to=2026-03-03&rule={VELOCITY}&version=1"
    ).json()["results"][0]
    assert [row["version"] for row in only["versions"]] == [1]
    assert only["hits"] == 8  # the rule's own figures stay whole

    for bad in (
        "version=1",  # no rule
        f"rule={VELOCITY}&version=9",
        f"rule={VELOCITY}&version=zero",
        f"rule={VELOCITY}&version=0",
    ):
        refused = client.get(f"/api/v1/cases/rule-stats?{bad}")
        assert refused.status_code == 400, bad
        assert "version" in refused.content.decode(), bad


def test_the_admin_page_shows_each_version_and_switches_between_them(seeded, client):
    client.force_login(factories.UserFactory(groups=["back_office"]))
    url = reverse("admin:fraud_rule_statistics")
    page = client.get(url, {"start": "2026-03-01", "end": "2026-03-03", "rule": VELOCITY})
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="version-stats"' in body
    for marker in ('data-version="none"', 'data-version="1"', 'data-version="2"'):
        assert body.count(marker) == 2  # its row and its chart
    assert "50.0 %" in body and "66.7 %" in body  # the false-positive rates of 1 and 2
    only = client.get(
        url, {"start": "2026-03-01", "end": "2026-03-03", "rule": VELOCITY, "version": "2"}
    ).content.decode()
    assert 'data-version="2"' in only and 'data-version="1"' not in only
    assert "66.7 %" in only
    bad = client.get(url, {"rule": VELOCITY, "version": "9"})
    assert bad.status_code == 400 and "no version 9" in bad.content.decode()


def test_the_screener_records_the_deciding_version_on_each_hit(money, new_player, client):
    rule = FraudRule.objects.get(key=VELOCITY)
    v1 = services.live_version(rule)
    player = new_player(100_00)
    for _ in range(6):
        money.withdraw(player, 1_00)
    first = RuleHit.objects.get(player=player, rule_key=VELOCITY)
    assert first.version_id == v1.pk
    assert first.case.hits[0]["version_id"] == v1.pk and first.case.hits[0]["version"] == 1
    # The case page names the version that decided.
    client.force_login(factories.UserFactory(groups=["back_office"]))
    page = client.get(reverse("admin:fraud_case_change", args=[first.case_id]))
    assert '<span class="rule-version">version 1</span>' in page.content.decode()

    draft = services.create_draft(rule=rule, actor=_officer(), parameters={"max_withdrawals": 2})
    v2 = services.publish_version(version_id=draft.pk, actor=_officer())
    money.withdraw(player, 1_00)
    latest = RuleHit.objects.filter(player=player, rule_key=VELOCITY).first()
    assert latest.pk != first.pk and latest.version_id == v2.pk
    [velocity] = statistics.rule_statistics(
        since=date.today() - timedelta(days=1),
        until=date.today() + timedelta(days=1),
        rule=VELOCITY,
    )
    assert {v.number: v.hits for v in velocity.versions} == {1: 1, 2: 1}


def test_a_pattern_job_records_its_rule_version(money, new_player):
    rule = FraudRule.objects.get(key=RuleKind.BONUS_FARMING)
    draft = services.create_draft(rule=rule, actor=_officer(), parameters={"min_count": 2})
    live = services.publish_version(version_id=draft.pk, actor=_officer())
    player = new_player()
    money.deposit(player, 5_00)
    money.deposit(player, 5_00)
    assert services.scan_bonus_farming() >= 1
    hit = RuleHit.objects.get(player=player, rule_key=RuleKind.BONUS_FARMING)
    assert hit.version_id == live.pk and live.number == 2


def test_a_shadow_decision_names_the_live_version_it_was_compared_with(money, new_player):
    rule = FraudRule.objects.get(key=VELOCITY)
    live = services.live_version(rule)
    draft = services.create_draft(rule=rule, actor=_officer(), parameters={"max_withdrawals": 1})
    services.start_shadow(version_id=draft.pk, actor=_officer())
    player = new_player(10_00)
    money.withdraw(player, 1_00)
    money.withdraw(player, 1_00)
    screening.shadow_recorder.flush()
    decisions = list(ShadowDecision.objects.filter(version=draft))
    assert decisions and {d.live_version_id for d in decisions} == {live.pk}
    # A new live version is published while the shadow runs: the comparison tells them apart.
    newer = services.create_draft(rule=rule, actor=_officer(), parameters={"max_withdrawals": 3})
    newer = services.publish_version(version_id=newer.pk, actor=_officer())
    money.withdraw(player, 1_00)
    screening.shadow_recorder.flush()
    comparison = selectors.shadow_comparison(
        version_id=draft.pk,
        since=timezone.now() - timedelta(hours=1),
        until=timezone.now() + timedelta(minutes=1),
    )
    assert comparison["by_live_version"] == [
        {"live_version_id": live.pk, "live_version": 1, "calls": 2, "agree": 1, "disagree": 1},
        {"live_version_id": newer.pk, "live_version": 3, "calls": 1, "agree": 0, "disagree": 1},
    ]
    # A disabled rule's live version does not run: nothing to compare against.
    FraudRule.objects.filter(pk=rule.pk).update(enabled=False)
    screening.invalidate_rule_cache()
    money.withdraw(player, 1_00)
    screening.shadow_recorder.flush()
    newest = ShadowDecision.objects.filter(version=draft).first()
    assert newest.live_version_id is None and newest.live_action == "allow"


def test_the_backfill_sets_a_version_only_where_the_history_is_exact():
    _rule, v1, v2 = _velocity_versions()
    player = factories.make_player()
    switch = DAY1 + timedelta(days=1, hours=12)
    cases = {
        "before versions began": (DAY1 - timedelta(days=11), None),
        "v1 just after it went live": (DAY1 - timedelta(days=10) + timedelta(seconds=30), None),
        "v1 well inside": (DAY1, v1.pk),
        "v1 just before the switch": (switch - timedelta(seconds=1), v1.pk),
        "v2 within the guard": (switch + timedelta(seconds=299), None),
        "v2 after the guard": (switch + timedelta(seconds=300), v2.pk),
    }
    hits = {name: _hit(player, None, "hold", at) for name, (at, _) in cases.items()}
    other_rule = _hit(player, None, "flag", DAY1, rule="no_such_rule")
    migration = importlib.import_module("fraud.migrations.0009_backfill_rule_hit_versions")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL_SQL, {"guard": migration.GUARD_SECONDS})
    for name, (_, expected) in cases.items():
        hits[name].refresh_from_db()
        assert hits[name].version_id == expected, name
    other_rule.refresh_from_db()
    assert other_rule.version_id is None
