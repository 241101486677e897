"""The alert engine: pending period, one alert per fingerprint, auto-resolve, silences,
notifications by e-mail and webhook with retries, the session and published-figure rules."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from monitoring import services
from monitoring.choices import AlertRule, AlertState, DeliveryStatus
from monitoring.models import Alert, GaugeMinute, NotificationDelivery
from tests import factories
from tests.monitoring.conftest import put_minutes, set_profile
from wallets import hooks

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(db):
    provider, _ = factories.make_provider("acme")
    set_profile(provider, pending_seconds=120, resolve_after_seconds=300, min_calls=20)
    return provider


def _slow(provider, now, minutes=60):
    # 10 % of calls at 900 ms: p95 lands in the (750 ms, 1 s] bucket, well above 500 ms.
    put_minutes(provider, start=now - timedelta(minutes=10), minutes=minutes, slow=10)


def _fast(provider, start, minutes=60):
    put_minutes(provider, start=start, minutes=minutes, slow=0)


def _latency_alerts(provider):
    return Alert.objects.filter(provider=provider, rule=AlertRule.LATENCY_P95)


def test_condition_must_hold_for_the_pending_period_before_firing(acme, now, settings, mailoutbox):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    _slow(acme, now)
    first = services.evaluate_alerts(now=now)
    alert = _latency_alerts(acme).get()
    assert alert.state == AlertState.PENDING and first.fired == []
    assert alert.value > 750 and alert.threshold == 500
    services.evaluate_alerts(now=now + timedelta(seconds=60))
    assert _latency_alerts(acme).get().state == AlertState.PENDING
    assert mailoutbox == []

    fired = services.evaluate_alerts(now=now + timedelta(seconds=120))
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING and fired.fired == [alert.pk]
    assert alert.fired_at == now + timedelta(seconds=120)
    assert len(mailoutbox) == 1
    assert "[Pitboss FIRING]" in mailoutbox[0].subject and mailoutbox[0].to == ["ops@example.com"]
    delivery = NotificationDelivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts, delivery.event) == ("sent", 1, "fired")


def test_a_blip_is_dropped_without_notification(acme, now, settings, mailoutbox):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    put_minutes(acme, start=now - timedelta(minutes=2), minutes=3, slow=10)
    services.evaluate_alerts(now=now)
    assert _latency_alerts(acme).get().state == AlertState.PENDING
    # Ten minutes later the slow minutes are out of the 5-minute window.
    _fast(acme, now + timedelta(minutes=1), minutes=10)
    result = services.evaluate_alerts(now=now + timedelta(minutes=10))
    assert result.dropped == 1
    assert not _latency_alerts(acme).exists()
    assert mailoutbox == [] and not NotificationDelivery.objects.exists()


def test_one_alert_per_fingerprint(acme, now):
    _slow(acme, now)
    for seconds in range(0, 600, 30):
        services.evaluate_alerts(now=now + timedelta(seconds=seconds))
    alert = _latency_alerts(acme).get()
    assert alert.state == AlertState.FIRING
    assert alert.fingerprint == f"latency_p95:{acme.pk}"
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            rule=alert.rule,
            fingerprint=alert.fingerprint,
            provider=acme,
            state=AlertState.PENDING,
            summary="twin",
            started_at=now,
            last_seen_at=now,
        )


def test_firing_alert_resolves_after_the_condition_stays_clear(acme, now, settings, webhook_server):
    settings.ALERT_WEBHOOK_URL = webhook_server.url
    put_minutes(acme, start=now - timedelta(minutes=10), minutes=14, slow=10)
    services.evaluate_alerts(now=now)
    services.evaluate_alerts(now=now + timedelta(minutes=3))
    alert = _latency_alerts(acme).get()
    assert alert.state == AlertState.FIRING
    _fast(acme, now + timedelta(minutes=4), minutes=30)

    clear_at = now + timedelta(minutes=10)  # window now holds fast minutes only
    services.evaluate_alerts(now=clear_at)
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING and alert.clear_since == clear_at
    services.evaluate_alerts(now=clear_at + timedelta(seconds=299))
    assert _latency_alerts(acme).get().state == AlertState.FIRING
    result = services.evaluate_alerts(now=clear_at + timedelta(seconds=300))
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and result.resolved == [alert.pk]
    assert alert.resolved_by is None and alert.resolution_note == "condition cleared"
    events = [r["event"] for r in webhook_server.requests]
    assert events == ["fired", "resolved"]
    assert webhook_server.requests[1]["alert"]["state"] == "resolved"
    assert webhook_server.requests[1]["alert"]["provider"] == "acme"


def test_condition_returning_before_the_resolve_period_keeps_the_alert(acme, now):
    _slow(acme, now)
    services.evaluate_alerts(now=now)
    services.evaluate_alerts(now=now + timedelta(minutes=3))
    alert = _latency_alerts(acme).get()
    alert.clear_since = now  # as if the last run saw it clear
    alert.save()
    services.evaluate_alerts(now=now + timedelta(minutes=20))
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING and alert.clear_since is None


def test_silence_suppresses_notifications_not_the_alert(acme, now, settings, mailoutbox):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    staff = factories.UserFactory(groups=["back_office"])
    services.create_silence(
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        reason="provider maintenance",
        rule=AlertRule.LATENCY_P95,
        provider=acme,
        actor=staff,
    )
    _slow(acme, now)
    services.evaluate_alerts(now=now)
    services.evaluate_alerts(now=now + timedelta(minutes=3))
    alert = _latency_alerts(acme).get()
    assert alert.state == AlertState.FIRING
    delivery = NotificationDelivery.objects.get(alert=alert)
    assert delivery.status == DeliveryStatus.SUPPRESSED and delivery.attempts == 0
    assert "provider maintenance" in delivery.last_error
    assert mailoutbox == []


def test_silence_for_another_provider_does_not_match(acme, now, settings, mailoutbox):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    other, _ = factories.make_provider("other")
    services.create_silence(
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        reason="other's maintenance",
        provider=other,
        actor=None,
    )
    _slow(acme, now)
    services.evaluate_alerts(now=now)
    services.evaluate_alerts(now=now + timedelta(minutes=3))
    assert len(mailoutbox) == 1


def test_webhook_retried_with_backoff_until_it_succeeds(acme, now, settings, webhook_server):
    settings.ALERT_WEBHOOK_URL = webhook_server.url
    settings.ALERT_NOTIFY_BACKOFF_SECONDS = 30
    webhook_server.failures_left = 2
    _slow(acme, now)
    services.evaluate_alerts(now=now)
    fire_at = now + timedelta(minutes=3)
    services.evaluate_alerts(now=fire_at)
    delivery = NotificationDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert "500" in delivery.last_error
    assert delivery.next_attempt_at == fire_at + timedelta(seconds=30)

    assert services.deliver_notifications(now=fire_at + timedelta(seconds=29)) == 0
    services.deliver_notifications(now=fire_at + timedelta(seconds=30))
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == fire_at + timedelta(seconds=30 + 60)

    assert services.deliver_notifications(now=fire_at + timedelta(seconds=90)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 3)
    assert len(webhook_server.requests) == 3
    assert all(r["event"] == "fired" for r in webhook_server.requests)


def test_delivery_gives_up_after_the_last_attempt(acme, now, settings):
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:1/hook"  # refused
    settings.ALERT_NOTIFY_MAX_ATTEMPTS = 2
    _slow(acme, now)
    services.evaluate_alerts(now=now)
    services.evaluate_alerts(now=now + timedelta(minutes=3))
    services.deliver_notifications(now=now + timedelta(hours=1))
    delivery = NotificationDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 2)
    assert delivery.next_attempt_at is None and delivery.last_error


def test_too_few_calls_is_no_data(acme, now):
    put_minutes(acme, start=now - timedelta(minutes=3), minutes=4, calls=4, slow=4)  # 16 calls
    services.evaluate_alerts(now=now)
    assert not Alert.objects.exists()


def test_error_rate_and_lock_contention_rules(acme, now):
    put_minutes(
        acme, start=now - timedelta(minutes=5), minutes=6, calls=100, errors=2,
        lock_wait_us=80_000,
    )  # fmt: skip
    services.evaluate_alerts(now=now)
    rules = dict(Alert.objects.values_list("rule", "value"))
    assert rules[AlertRule.ERROR_RATE] == pytest.approx(2.0)
    assert rules[AlertRule.LOCK_CONTENTION_P95] > 50
    assert AlertRule.LATENCY_P95 not in rules


def test_business_refusals_do_not_count_as_errors(acme, now):
    put_minutes(acme, start=now - timedelta(minutes=5), minutes=6)
    row = acme  # noqa: F841
    from monitoring.models import MetricMinute

    MetricMinute.objects.filter(provider=acme).update(
        outcomes={"OK": 50, "INSUFFICIENT_FUNDS": 40, "PROVIDER_SUSPENDED": 10}, errors=0
    )
    services.evaluate_alerts(now=now)
    assert not Alert.objects.filter(rule=AlertRule.ERROR_RATE).exists()


def test_open_sessions_per_player_fingerprint_names_the_player(acme, now):
    set_profile(acme, open_sessions_per_player=2)
    acme.max_sessions_per_player = 10
    acme.save()
    busy = factories.funded_player(10_00)
    calm = factories.funded_player(10_00)
    for _ in range(3):
        factories.open_session(busy, acme)
    factories.open_session(calm, acme)
    services.evaluate_alerts(now=now)
    alert = Alert.objects.get(rule=AlertRule.OPEN_SESSIONS_PER_PLAYER)
    assert alert.player_id == busy.pk and alert.value == 3
    assert alert.fingerprint == f"open_sessions_per_player:{acme.pk}:{busy.pk}"
    gauge = GaugeMinute.objects.get(provider=acme, name="open_sessions")
    assert gauge.value == 4


def test_orphaned_sessions_rule(acme, now):
    set_profile(acme, orphaned_sessions_per_hour=1)
    player = factories.funded_player(10_00)
    from wallets.models import GameSession

    for _ in range(2):
        factories.open_session(player, acme)
    GameSession.objects.filter(provider=acme).update(last_activity_at=now - timedelta(hours=2))
    services.evaluate_alerts(now=now)
    alert = Alert.objects.get(rule=AlertRule.ORPHANED_SESSIONS)
    assert alert.value == 2


@pytest.fixture
def published():
    saved = dict(hooks.metric_sources)
    yield hooks.metric_sources
    hooks.metric_sources.clear()
    hooks.metric_sources.update(saved)


def test_drift_and_other_published_figures(acme, now, published):
    quiet, _ = factories.make_provider("quiet")
    hooks.register_metric_source("drift_largest_minor", lambda: {acme.pk: 3, quiet.pk: 1})
    hooks.register_metric_source("security_violations", lambda: {acme.pk: 2})

    def broken():
        raise RuntimeError("source down")

    hooks.register_metric_source("drift_open_discrepancies", broken)
    services.evaluate_alerts(now=now)
    alerts = {(a.rule, a.provider.code, a.source): a.value for a in Alert.objects.all()}
    assert alerts == {
        (AlertRule.DRIFT, "acme", "drift_largest_minor"): 3,
        (AlertRule.METRIC_SOURCE, "acme", "security_violations"): 2,
    }
    assert GaugeMinute.objects.get(provider=acme, name="drift_largest_minor").value == 3


def test_a_drift_in_minor_units_stays_exact_through_alert_and_gauge(acme, now, published):
    # 2**53 + 1 has no binary float: a float() on the way would store 9007199254740992.
    drift = 2**53 + 1
    hooks.register_metric_source("drift_largest_minor", lambda: {acme.pk: drift})
    services.evaluate_alerts(now=now)
    assert Alert.objects.get(rule=AlertRule.DRIFT).value == Decimal(drift)
    assert GaugeMinute.objects.get(provider=acme, name="drift_largest_minor").value == drift


def test_unknown_source_in_a_profile_is_no_data(acme, now, published):
    set_profile(acme, source_thresholds={"no_such_figure": 0})
    services.evaluate_alerts(now=now)
    assert not Alert.objects.exists()


def test_profiles_are_created_on_demand_with_design_defaults(now):
    provider, _ = factories.make_provider("fresh")
    services.evaluate_alerts(now=now)
    profile = provider.monitoring_profile
    assert profile.template == "conservative"
    assert (profile.latency_p95_ms, profile.lock_wait_p95_ms, profile.drift_minor) == (500, 50, 1)
    assert (profile.open_sessions_per_player, profile.orphaned_sessions_per_hour) == (5, 10)
    assert str(profile.error_rate_percent) == "1.00"
    assert profile.auto_protection_enabled is False


def test_jobs_have_management_commands_and_beat_schedules(acme):
    from io import StringIO

    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    out = StringIO()
    call_command("flush_metrics", stdout=out)
    assert "flushed 0 batches" in out.getvalue()
    call_command("evaluate_alerts", stdout=out)
    assert "evaluated" in out.getvalue()
    tasks = dict(
        PeriodicTask.objects.filter(task__startswith="monitoring.").values_list(
            "task", "interval__every"
        )
    )
    call_command("dispatch_notifications", stdout=out)
    assert "notifications queued" in out.getvalue()
    assert tasks == {
        "monitoring.flush_metrics": 60,
        "monitoring.evaluate_alerts": 30,
        "monitoring.dispatch_notifications": 30,
    }
