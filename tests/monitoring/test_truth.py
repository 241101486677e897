"""Monitoring never contradicts its own numbers: a provider's health comes from the figures the
alert rules read; the provider page's summary is its charts' bins added up; a bin still filling
is drawn as partial, never as a drop; every count on a home card is the number of rows on the
list it links to."""

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from compliance.choices import Severity, ViolationKind
from compliance.models import SecurityViolation
from monitoring import capture, charts, selectors, services
from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert
from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus
from reconciliation.models import Discrepancy
from tests import factories
from tests.monitoring.conftest import put_minutes, set_profile
from wallets.hooks import CallObservation
from wallets.models import GameSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(factories.UserFactory(is_superuser=True))
    return client


def _rows(now):
    return {row.provider.code: row for row in selectors.provider_overview(now=now)}


# --- health from figures ------------------------------------------------------------------------


def test_a_provider_with_most_calls_failing_is_failing_while_its_alert_is_still_pending(now):
    flaky, _ = factories.make_provider("flaky")
    broken, _ = factories.make_provider("broken")
    put_minutes(flaky, start=now - timedelta(minutes=4), minutes=4, calls=100, errors=28)
    put_minutes(broken, start=now - timedelta(minutes=4), minutes=4, calls=50, errors=50)
    services.evaluate_alerts(now=now)
    # The alerts have not held for the pending period: nobody was notified yet.
    assert set(Alert.objects.values_list("state", flat=True)) == {AlertState.PENDING}
    rows = _rows(now)
    assert rows["flaky"].health == "failing"
    assert any("28.00 % is far above the threshold 1 %" in r for r in rows["flaky"].reasons)
    assert rows["broken"].health == "failing"
    assert any("no successful call of 200" in r for r in rows["broken"].reasons)
    # Its error-rate and provider-failing alerts are both pending.
    assert rows["broken"].pending_alerts == 2 and rows["broken"].firing_alerts == 0


def test_a_pending_alert_or_a_figure_over_threshold_is_degraded(now):
    slowish, _ = factories.make_provider("slowish")
    pending, _ = factories.make_provider("pending")
    fine, _ = factories.make_provider("fine")
    put_minutes(slowish, start=now - timedelta(minutes=4), minutes=4, calls=100, errors=2)
    put_minutes(fine, start=now - timedelta(minutes=4), minutes=4, calls=100)
    Alert.objects.create(
        rule=AlertRule.DRIFT,
        fingerprint=f"drift:{pending.pk}",
        provider=pending,
        state=AlertState.PENDING,
        summary="pending: largest balance drift 3 minor units",
        started_at=now,
        last_seen_at=now,
    )
    rows = _rows(now)
    assert rows["slowish"].health == "degraded"
    assert rows["slowish"].reasons == ["error rate 2.00 % above the threshold 1 %"]
    assert rows["pending"].health == "degraded"
    assert rows["pending"].reasons == [
        "pending alert: pending: largest balance drift 3 minor units"
    ]
    assert rows["fine"].health == "healthy" and rows["fine"].reasons == []


def test_too_few_calls_is_healthy_and_says_why(now):
    quiet, _ = factories.make_provider("quiet")
    put_minutes(quiet, start=now - timedelta(minutes=2), minutes=1, calls=3, errors=3)
    row = _rows(now)["quiet"]
    assert row.health == "healthy"
    assert row.reasons == ["3 calls in 5 min: fewer than 20, no latency or error verdict"]


def test_overview_alerts_and_health_read_the_same_figures(admin_client, now):
    acme, _ = factories.make_provider("acme")
    set_profile(acme, pending_seconds=0)
    put_minutes(acme, start=now - timedelta(minutes=4), minutes=4, calls=200, errors=5, slow=20)
    # One more minute still in Redis (not flushed yet): every reader must count it.
    for outcome in ["OK"] * 30 + ["INTERNAL_ERROR"] * 10:
        capture.record_call(CallObservation("acme", "bet", outcome, 1_500))
    services.evaluate_alerts(now=timezone.now())
    figures = selectors.current_figures()[acme.pk]
    assert figures.calls == 840 and figures.errors == 30
    error_alert = Alert.objects.get(rule=AlertRule.ERROR_RATE)
    assert float(error_alert.value) == pytest.approx(figures.error_rate_percent, abs=1e-6)
    latency_alert = Alert.objects.get(rule=AlertRule.LATENCY_P95)
    assert float(latency_alert.value) == pytest.approx(figures.p95_ms, abs=1e-6)

    response = admin_client.get("/admin/monitoring/dashboard/")
    row = {r.provider.code: r for r in response.context["rows"]}["acme"]
    assert (row.figures.calls, row.figures.errors) == (840, 30)
    assert row.health == "degraded"  # 3.57 %: above 1 %, not 5 times it
    body = response.content.decode()
    assert "3.57 %" in body and 'class="pitboss-sparkline"' in body
    for figure in (row.figures.p50_ms, row.figures.p95_ms, row.figures.p99_ms):
        assert f"{figure:.1f} ms" in body

    page = admin_client.get("/admin/monitoring/dashboard/acme/?hours=1")
    assert page.context["current"].calls == 840
    assert page.context["health"].health == "degraded"


# --- the provider page: summary and charts ----------------------------------------------------


def test_the_window_summary_is_the_charts_bins_added_up(admin_client, now):
    acme, _ = factories.make_provider("acme")
    put_minutes(acme, start=now - timedelta(minutes=30), minutes=20, calls=50)
    # Errors only in calls still in Redis: a chart reading roll-ups alone would show 0.00 %
    # under a summary saying otherwise.
    for outcome in ["OK"] * 15 + ["INTERNAL_ERROR"] * 5:
        capture.record_call(CallObservation("acme", "bet", outcome, 2_000))
    response = admin_client.get("/admin/monitoring/dashboard/acme/?hours=1")
    series = selectors.provider_series(provider=acme, hours=1)
    stats = response.context["stats"]
    assert stats.calls == sum(series.calls) == 1_020
    assert stats.errors == 5
    assert max(r for r in series.error_rate_percent if r is not None) > 0
    assert "error rate 0.49 %" in response.content.decode()


def test_a_partial_last_bin_is_rate_normalised_and_drawn_as_partial(admin_client):
    acme, _ = factories.make_provider("acme")
    # 6 h window: 6-minute bins. Put a steady 60 calls a minute over the last hour.
    moment = timezone.now()
    put_minutes(acme, start=moment - timedelta(minutes=60), minutes=61, calls=60)
    series = selectors.provider_series(provider=acme, hours=6, now=moment)
    assert series.bin_seconds == 360
    elapsed = int(moment.timestamp()) % 360
    assert series.last_bin_seconds == elapsed and series.last_bin_partial == (elapsed < 360)
    rates = series.calls_per_minute
    # A full bin: 60 calls a minute; the partial last one is not a drop.
    assert rates[-2] == 60
    if elapsed >= 5:
        assert rates[-1] >= 60
    response = admin_client.get("/admin/monitoring/dashboard/acme/?hours=6")
    body = response.content.decode()
    assert "Calls per minute" in body and "Calls per bin" not in body
    assert 'class="partial-bin"' in body
    assert re.search(r"partial: \d of 6 min", body)


def test_line_chart_draws_the_last_point_dashed_and_labelled():
    times = [timezone.now() + timedelta(minutes=i) for i in range(3)]
    svg = charts.line_chart(
        times=times, series=[("calls", [10.0, 12.0, 4.0])], partial_last="partial: 20 s"
    )
    assert 'class="partial" fill="none"' in svg and 'stroke-dasharray="4 3"' in svg
    assert "partial: 20 s" in svg
    # The solid line ends at the last complete bin.
    solid = re.findall(r'<polyline fill="none"[^>]*points="([^"]+)"', svg)
    assert len(solid) == 1 and len(solid[0].split()) == 2
    full = charts.line_chart(times=times, series=[("calls", [10.0, 12.0, 4.0])])
    assert "partial" not in full


def test_sparkline_breaks_at_gaps_and_is_none_without_data():
    assert charts.sparkline([None, None]) is None
    svg = charts.sparkline([1.0, 2.0, None, 3.0, 4.0], title="a <b>")
    assert svg.count("<polyline") == 2 and "a &lt;b&gt;" in svg


# --- home cards: count == rows on the linked list ---------------------------------------------


def _card(body: str, key: str) -> tuple[str, str]:
    match = re.search(
        rf'id="home-{key}".*?<p class="value">([^<]*)</p>.*?<a href="([^"]+)"', body, re.S
    )
    assert match, f"card {key} not found"
    return match.group(1), html.unescape(match.group(2))


def _listed(client, link: str) -> int:
    response = client.get(link)
    assert response.status_code == 200
    if "cl" in response.context:
        return response.context["cl"].result_count
    return len(response.context["rows"])  # the monitoring dashboard


@pytest.fixture
def attention(now):
    """Data on which the old cards disagreed with their lists."""
    acme, _ = factories.make_provider("acme", idle_timeout_seconds=1_800)
    other, _ = factories.make_provider("other", idle_timeout_seconds=1_800)
    # Violations: some with several occurrences, some outside the policy window.
    for minutes_ago, occurrences in ((1, 4), (2, 1), (3, 2), (60 * 24 * 30, 1)):
        SecurityViolation.objects.create(
            provider=acme,
            kind=ViolationKind.SIGNATURE_FAILURES,
            severity=Severity.HIGH,
            occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
            occurrences=occurrences,
        )
    # Sessions: idle 10 min (not past the 30 min timeout) and idle 2 h (orphaned).
    player = factories.funded_player()
    for provider, idle in ((acme, 10), (other, 120), (acme, 120)):
        session, _token = factories.open_session(player, provider)
        GameSession.objects.filter(pk=session.pk).update(
            last_activity_at=timezone.now() - timedelta(minutes=idle)
        )
    # Alerts: one firing, one pending, one resolved.
    for state, provider in (
        (AlertState.FIRING, acme),
        (AlertState.PENDING, other),
        (AlertState.RESOLVED, other),
    ):
        Alert.objects.create(
            rule=AlertRule.ERROR_RATE if state != AlertState.PENDING else AlertRule.DRIFT,
            fingerprint=f"{state}:{provider.pk}",
            provider=provider,
            state=state,
            summary=f"{provider.code} {state}",
            started_at=now,
            last_seen_at=now,
        )
    # Discrepancies: two open (one wallet-level), one closed.
    for index, (status, provider) in enumerate(
        (
            (DiscrepancyStatus.OPEN, acme),
            (DiscrepancyStatus.OPEN, None),
            (DiscrepancyStatus.CLOSED, acme),
        )
    ):
        Discrepancy.objects.create(
            kind=DiscrepancyKind.AMOUNT_MISMATCH,
            status=status,
            provider=provider,
            provider_transaction_id=f"t{index}",
            drift_minor=100,
            occurred_at=now,
        )


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ("providers", 2),
        ("alerts", 2),
        ("sessions", 2),
        ("violations", 3),
        ("discrepancies", 2),
    ],
)
def test_each_home_card_counts_the_rows_of_the_list_it_links_to(
    admin_client, attention, card, expected
):
    body = admin_client.get("/admin/").content.decode()
    value, link = _card(body, card)
    assert int(value) == expected
    assert _listed(admin_client, link) == expected


def test_the_violations_card_counts_records_not_occurrences(admin_client, attention):
    value, link = _card(admin_client.get("/admin/").content.decode(), "violations")
    assert "in_window=yes" in link
    assert value == "3"  # 4 + 1 + 2 occurrences in 3 records; the old record is outside


def test_the_orphaned_sessions_selector_counts_what_the_session_figures_count(attention):
    from wallets import selectors as wallet_selectors

    figures = wallet_selectors.session_figures()
    assert sum(f.orphaned_open_sessions for f in figures) == 2
    assert wallet_selectors.orphaned_sessions().count() == 2


def test_the_axis_of_a_tiny_error_rate_does_not_read_zero():
    times = [timezone.now() + timedelta(minutes=i) for i in range(3)]
    svg = charts.line_chart(times=times, series=[("errors %", [0.004, 0.002, 0.0])], unit=" %")
    labels = re.findall(r'text-anchor="end" fill="#555">([^<]+)</text>', svg)
    assert "0.0044 %" in labels and "0.0022 %" in labels


def test_violations_in_window_follow_each_providers_own_window(admin_client, attention):
    from compliance import policies
    from compliance.models import ProviderSecurityPolicy
    from wallets.models import Provider

    acme = Provider.objects.get(code="acme")
    other = Provider.objects.get(code="other")
    # acme's window shrinks to 2 minutes: only its violation of 1 minute ago stays in.
    ProviderSecurityPolicy.objects.create(provider=acme, window_minutes=2)
    SecurityViolation.objects.create(
        provider=other,
        kind=ViolationKind.SIGNATURE_FAILURES,
        severity=Severity.HIGH,
        occurred_at=timezone.now() - timedelta(minutes=30),
    )
    policies.invalidate()
    value, link = _card(admin_client.get("/admin/").content.decode(), "violations")
    assert value == "2"
    assert _listed(admin_client, link) == 2
    from compliance import selectors as compliance_selectors

    counts = compliance_selectors.violation_counts()
    assert counts == {acme.pk: 4, other.pk: 1}  # occurrences of the same rows
