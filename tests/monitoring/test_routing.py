"""Alert notifications routed as Alertmanager routes them, on a simulated timeline (`now` is
passed in, nothing sleeps): grouping per provider, group_wait, group_interval, repeat_interval,
resolved notifications, inhibition of a suspended or failing provider's alerts, silences, mute
windows, the routing tree, and receivers (e-mail through Django's mail backend, webhooks to a
real HTTP server on the loopback) with retries in the delivery log."""

import socket
from datetime import time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from monitoring import routing, services, tasks
from monitoring.choices import AlertRule, AlertState, NotificationStatus
from monitoring.models import (
    Alert,
    InhibitRule,
    MuteWindow,
    Notification,
    NotificationGroup,
    Receiver,
    Route,
    Silence,
)
from tests import factories
from tests.monitoring.conftest import put_minutes, set_profile
from wallets import services as wallet_services

pytestmark = pytest.mark.django_db

S = timedelta(seconds=1)


@pytest.fixture
def acme(db):
    provider, _ = factories.make_provider("acme")
    return provider


@pytest.fixture
def staff(db):
    return factories.UserFactory(email="oncall@example.com")


def fire(provider, rule, at, state=AlertState.FIRING, player=None):
    return Alert.objects.create(
        rule=rule,
        fingerprint=f"{rule}:{provider.pk}" + (f":{player}" if player else ""),
        provider=provider,
        state=state,
        summary=f"{provider.code}: {rule}",
        started_at=at - timedelta(minutes=5),
        fired_at=at,
        last_seen_at=at,
    )


def resolve(alert, at):
    alert.state = AlertState.RESOLVED
    alert.resolved_at = at
    alert.save()


def sent_to(receiver_name):
    return list(
        Notification.objects.filter(receiver__name=receiver_name).order_by("created_at", "id")
    )


def alert_ids(notification, status="firing"):
    return [a["id"] for a in notification.payload["alerts"] if a["status"] == status]


def test_default_routes_are_seeded():
    root = Route.objects.get(parent=None)
    assert root.receiver.name == "delivery-log" and root.group_by == ["provider"]
    critical = Route.objects.get(parent=root)
    assert critical.severity == "critical" and critical.receiver.name == "staff-email"
    assert critical.receiver.email_staff
    assert set(InhibitRule.objects.values_list("name", flat=True)) == {
        "suspended provider",
        "failing provider",
    }


def test_group_wait_batches_a_providers_alerts_into_one_email(acme, staff, now, mailoutbox):
    error = fire(acme, AlertRule.ERROR_RATE, now)
    assert routing.dispatch_notifications(now=now).queued == []  # group_wait (30 s) running
    drift = fire(acme, AlertRule.DRIFT, now + 10 * S)
    assert routing.dispatch_notifications(now=now + 10 * S).queued == []
    result = routing.dispatch_notifications(now=now + 30 * S)
    (notification,) = sent_to("staff-email")
    assert result.queued == [notification.pk] and result.sent == 1
    assert alert_ids(notification) == [error.pk, drift.pk]
    assert notification.payload["group_labels"] == {"provider": "acme"}
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["oncall@example.com"]
    assert mailoutbox[0].subject.startswith("[Pitboss FIRING:2] {provider=acme}")
    assert notification.status == NotificationStatus.SENT
    assert notification.attempt_log[0]["result"] == "mailed 1"


def test_another_provider_is_another_group(acme, staff, now, mailoutbox):
    other, _ = factories.make_provider("other")
    fire(acme, AlertRule.ERROR_RATE, now)
    fire(other, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)
    assert sorted(n.group_key for n in sent_to("staff-email")) == [
        "provider=acme",
        "provider=other",
    ]
    assert len(mailoutbox) == 2


def test_new_alerts_wait_for_the_group_interval_and_unchanged_groups_repeat(
    acme, staff, now, mailoutbox
):
    first = fire(acme, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)  # first notification
    second = fire(acme, AlertRule.DRIFT, now + 60 * S)
    for seconds in (60, 120, 300):  # group_interval is 5 min from the first flush
        assert routing.dispatch_notifications(now=now + seconds * S).queued == []
    routing.dispatch_notifications(now=now + 330 * S)
    notifications = sent_to("staff-email")
    assert len(notifications) == 2
    assert alert_ids(notifications[1]) == [first.pk, second.pk]
    # Nothing changes: no notification until repeat_interval (4 h) after the last one.
    moment = now + 330 * S
    while moment < now + 330 * S + timedelta(hours=4) - 300 * S:
        moment += 300 * S
        assert routing.dispatch_notifications(now=moment).queued == []
    moment += 300 * S
    assert len(routing.dispatch_notifications(now=moment).queued) == 1
    assert len(mailoutbox) == 3


def test_an_acknowledged_group_does_not_repeat(acme, staff, now):
    alert = fire(acme, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)
    alert.state = AlertState.ACKNOWLEDGED
    alert.save()
    assert routing.dispatch_notifications(now=now + timedelta(hours=5)).queued == []
    assert len(sent_to("staff-email")) == 1


def test_resolution_is_notified_and_the_group_ends(acme, staff, now, mailoutbox):
    alert = fire(acme, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)
    resolve(alert, now + 100 * S)
    assert routing.dispatch_notifications(now=now + 200 * S).queued == []
    routing.dispatch_notifications(now=now + 330 * S)
    notifications = sent_to("staff-email")
    assert alert_ids(notifications[-1], "resolved") == [alert.pk]
    assert notifications[-1].payload["status"] == "resolved"
    assert mailoutbox[-1].subject.startswith("[Pitboss RESOLVED]")
    assert not NotificationGroup.objects.exists()


def test_a_receiver_without_resolved_notifications_is_not_told(acme, staff, now, mailoutbox):
    Receiver.objects.filter(name="staff-email").update(send_resolved=False)
    alert = fire(acme, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)
    resolve(alert, now + 60 * S)
    routing.dispatch_notifications(now=now + 330 * S)
    assert len(mailoutbox) == 1 and not NotificationGroup.objects.exists()


def test_a_blip_resolved_within_group_wait_notifies_nobody(acme, staff, now, mailoutbox):
    alert = fire(acme, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    resolve(alert, now + 10 * S)
    routing.dispatch_notifications(now=now + 30 * S)
    assert mailoutbox == [] and not Notification.objects.exists()


def test_warnings_go_to_the_root_receiver_and_only_to_the_log(acme, staff, now, mailoutbox):
    latency = fire(acme, AlertRule.LATENCY_P95, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)
    (logged,) = sent_to("delivery-log")
    assert alert_ids(logged) == [latency.pk]
    assert logged.status == NotificationStatus.SENT
    assert logged.attempt_log[0]["result"] == "recorded only"
    assert mailoutbox == []


def test_a_suspended_providers_latency_error_and_drift_alerts_are_inhibited(
    acme, staff, now, mailoutbox
):
    wallet_services.change_provider_status(
        provider=acme, status="suspended", reason="unsigned calls", actor=None
    )
    inhibited = [fire(acme, rule, now) for rule in (AlertRule.ERROR_RATE, AlertRule.DRIFT)]
    protection = fire(acme, AlertRule.AUTO_PROTECTION, now)
    routing.dispatch_notifications(now=now)
    result = routing.dispatch_notifications(now=now + 30 * S)
    assert result.inhibited == sorted(a.pk for a in inhibited)
    (notification,) = sent_to("staff-email")
    assert alert_ids(notification) == [protection.pk]
    # Restored: the held-back alerts start their own group_wait and are sent.
    wallet_services.change_provider_status(
        provider=acme, status="active", reason="fixed", actor=None
    )
    routing.dispatch_notifications(now=now + 60 * S)
    routing.dispatch_notifications(now=now + 330 * S)
    expected = [inhibited[0].pk, inhibited[1].pk, protection.pk]
    assert alert_ids(sent_to("staff-email")[-1]) == expected


def test_a_failing_provider_is_told_once_as_failing_not_per_symptom(acme, staff, now, mailoutbox):
    set_profile(acme, pending_seconds=0)
    put_minutes(acme, start=now - timedelta(minutes=4), minutes=4, calls=100, errors=100)
    services.evaluate_alerts(now=now, deliver=False)
    assert set(Alert.objects.values_list("rule", "state")) == {
        (AlertRule.ERROR_RATE, AlertState.FIRING),
        (AlertRule.PROVIDER_FAILING, AlertState.FIRING),
    }
    routing.dispatch_notifications(now=now)
    result = routing.dispatch_notifications(now=now + 30 * S)
    error = Alert.objects.get(rule=AlertRule.ERROR_RATE)
    failing = Alert.objects.get(rule=AlertRule.PROVIDER_FAILING)
    assert result.inhibited == [error.pk]
    (notification,) = sent_to("staff-email")
    assert alert_ids(notification) == [failing.pk]
    assert "no successful call of 400" in notification.payload["alerts"][0]["summary"]


def test_a_silence_holds_an_alert_back(acme, staff, now, mailoutbox):
    Silence.objects.create(
        provider=acme, starts_at=now - 60 * S, ends_at=now + 600 * S, reason="maintenance"
    )
    alert = fire(acme, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    result = routing.dispatch_notifications(now=now + 30 * S)
    assert result.silenced == [alert.pk] and mailoutbox == []
    routing.dispatch_notifications(now=now + 601 * S)
    routing.dispatch_notifications(now=now + 631 * S)
    assert len(mailoutbox) == 1


def test_a_mute_window_holds_notifications_until_it_ends(acme, staff, now, mailoutbox, settings):
    settings.TIME_ZONE = "UTC"
    local = timezone.localtime(now)
    window = MuteWindow.objects.create(
        name="night",
        start_time=(local - timedelta(minutes=1)).time(),
        end_time=(local + timedelta(minutes=10)).time(),
    )
    Route.objects.get(name="critical to staff").mute_windows.add(window)
    fire(acme, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)
    result = routing.dispatch_notifications(now=now + 30 * S)
    assert result.muted == ["critical to staff {provider=acme}"] and mailoutbox == []
    assert routing.dispatch_notifications(now=now + 330 * S).muted  # still inside
    routing.dispatch_notifications(now=now + 630 * S)  # window ended at +10 min
    assert len(mailoutbox) == 1


def test_mute_window_weekdays_and_midnight():
    night = MuteWindow(name="n", weekdays=[0], start_time=time(22), end_time=time(6))
    monday_late = timezone.make_aware(timezone.datetime(2026, 11, 30, 23, 0))
    tuesday_early = timezone.make_aware(timezone.datetime(2026, 12, 1, 5, 0))
    tuesday_late = timezone.make_aware(timezone.datetime(2026, 12, 1, 23, 0))
    assert night.active_at(monday_late) and night.active_at(tuesday_early)
    assert not night.active_at(tuesday_late)


def test_routing_tree_matchers_continue_and_inherited_settings(
    acme, staff, now, mailoutbox, webhook_server
):
    other, _ = factories.make_provider("other")
    root = Route.objects.get(parent=None)
    hook = Receiver.objects.create(name="acme-hook", kind="webhook", webhook_url=webhook_server.url)
    # Before the critical route: acme's error-rate alerts go to the webhook, grouped by rule,
    # and (continue) on to the next matching sibling too.
    Route.objects.create(
        name="acme errors",
        parent=root,
        position=0,
        provider=acme,
        rule=AlertRule.ERROR_RATE,
        receiver=hook,
        group_by=["provider", "rule"],
        group_wait_seconds=0,
        continue_matching=True,
    )
    Route.objects.filter(name="critical to staff").update(position=1)
    acme_error = fire(acme, AlertRule.ERROR_RATE, now)
    other_error = fire(other, AlertRule.ERROR_RATE, now)
    routing.dispatch_notifications(now=now)  # group_wait 0 for the webhook route
    assert [r["alerts"][0]["id"] for r in webhook_server.requests] == [acme_error.pk]
    assert webhook_server.requests[0]["group_labels"] == {"provider": "acme", "rule": "error_rate"}
    routing.dispatch_notifications(now=now + 30 * S)
    assert sorted(alert_ids(n)[0] for n in sent_to("staff-email")) == sorted(
        [acme_error.pk, other_error.pk]
    )
    tree = routing.load_tree()
    child = tree.children[0]
    assert child.group_interval == timedelta(seconds=300)  # inherited from the root
    assert child.repeat_interval == timedelta(hours=4)


def test_webhook_failures_are_retried_with_backoff_and_logged(acme, now, settings, webhook_server):
    settings.ALERT_NOTIFY_BACKOFF_SECONDS = 30
    hook = Receiver.objects.create(name="hook", kind="webhook", webhook_url=webhook_server.url)
    Route.objects.filter(parent=None).update(receiver=hook)
    webhook_server.failures_left = 2
    fire(acme, AlertRule.LATENCY_P95, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)  # attempt 1: 500
    (notification,) = sent_to("hook")
    assert notification.status == NotificationStatus.PENDING
    assert notification.next_attempt_at == now + 60 * S
    routing.dispatch_notifications(now=now + 59 * S)  # not due yet
    routing.dispatch_notifications(now=now + 60 * S)  # attempt 2: 500, retry in 60 s
    routing.dispatch_notifications(now=now + 120 * S)  # attempt 3: 200
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT and notification.attempts == 3
    assert [e.get("result") or e["error"][:14] for e in notification.attempt_log] == [
        "HTTPError: HTT",
        "HTTPError: HTT",
        "HTTP 200",
    ]
    assert len(webhook_server.requests) == 3


def test_a_webhook_that_never_answers_times_out_and_gives_up(acme, now):
    # A loopback socket that accepts connections but never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        hook = Receiver.objects.create(
            name="slow", kind="webhook", webhook_url=url, timeout_seconds=1, max_attempts=1
        )
        Route.objects.filter(parent=None).update(receiver=hook)
        fire(acme, AlertRule.LATENCY_P95, now)
        routing.dispatch_notifications(now=now)
        routing.dispatch_notifications(now=now + 30 * S)
    finally:
        silent.close()
    (notification,) = sent_to("slow")
    assert notification.status == NotificationStatus.FAILED
    assert "timed out" in notification.last_error
    assert notification.attempt_log[0]["error"] == notification.last_error


def test_an_email_receiver_without_recipients_fails_clearly(acme, now):
    nobody = Receiver.objects.create(name="nobody", kind="email", email_staff=True, max_attempts=1)
    Route.objects.filter(parent=None).update(receiver=nobody)
    fire(acme, AlertRule.LATENCY_P95, now)
    routing.dispatch_notifications(now=now)
    routing.dispatch_notifications(now=now + 30 * S)
    (notification,) = sent_to("nobody")
    assert notification.status == NotificationStatus.FAILED
    assert "no recipient" in notification.last_error


def test_the_beat_task_is_a_thin_wrapper_with_a_schedule(acme, staff, mailoutbox):
    from django_celery_beat.models import PeriodicTask

    fire(acme, AlertRule.ERROR_RATE, timezone.now() - timedelta(minutes=1))
    NotificationGroup.objects.all().delete()
    assert tasks.dispatch_notifications() == 0  # a new group waits group_wait
    NotificationGroup.objects.update(next_flush_at=timezone.now())
    assert tasks.dispatch_notifications() == 1
    assert PeriodicTask.objects.get(task="monitoring.dispatch_notifications").enabled


def test_staff_edit_routing_in_the_admin(acme):
    client = Client()
    client.force_login(factories.UserFactory(is_superuser=True))
    for page in ("route", "receiver", "mutewindow", "inhibitrule", "notification"):
        response = client.get(f"/admin/monitoring/{page}/")
        assert response.status_code == 200, page
    root = Route.objects.get(parent=None)
    assert client.get(f"/admin/monitoring/route/{root.pk}/change/").status_code == 200
    response = client.post(
        "/admin/monitoring/receiver/add/",
        {"name": "bad", "kind": "webhook", "webhook_url": "", "timeout_seconds": 5,
         "max_attempts": 3},
    )  # fmt: skip
    assert response.status_code == 200 and b"A webhook receiver needs a URL." in response.content
    assert not Receiver.objects.filter(name="bad").exists()


def test_back_office_reads_the_delivery_log_and_sets_mute_windows_but_not_routes(acme):
    client = Client()
    client.force_login(factories.UserFactory(groups=["back_office"]))
    assert client.get("/admin/monitoring/notification/").status_code == 200
    assert client.get("/admin/monitoring/route/").status_code == 200
    assert client.get("/admin/monitoring/mutewindow/add/").status_code == 200
    assert client.get("/admin/monitoring/route/add/").status_code == 403
    assert client.get("/admin/monitoring/receiver/add/").status_code == 403


def test_the_tree_has_one_root_that_sets_every_default_and_no_cycle():
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    root = Route.objects.get(parent=None)
    child = Route.objects.get(parent=root)
    with pytest.raises(ValidationError, match="needs a receiver"):
        Route(name="bare root").full_clean()
    with pytest.raises(ValidationError, match="no matchers"):
        Route(
            name="x", receiver=root.receiver, group_by=[], group_wait_seconds=0,
            group_interval_seconds=60, repeat_interval_seconds=60, severity="critical",
        ).full_clean()  # fmt: skip
    root.parent = child
    with pytest.raises(ValidationError, match="its own ancestor"):
        root.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Route.objects.create(name="second root", receiver=root.receiver, group_by=[])


def test_the_dashboard_and_admin_home_link_routing_for_those_who_may_read_it():
    back_office, support = Client(), Client()
    back_office.force_login(factories.UserFactory(groups=["back_office"]))
    support.force_login(factories.UserFactory(groups=["support"]))
    assert b'id="routing-links"' in back_office.get("/admin/monitoring/dashboard/").content
    assert b'id="routing-links"' not in support.get("/admin/monitoring/dashboard/").content
    assert b">Alert routing</a>" in back_office.get("/admin/").content
    assert b">Alert routing</a>" not in support.get("/admin/").content


def test_an_administrator_adds_a_route_and_an_inhibition_rule_audited(acme):
    from wallets.models import AuditRecord

    client = Client()
    client.force_login(factories.UserFactory(is_superuser=True))
    root = Route.objects.get(parent=None)
    response = client.post(
        "/admin/monitoring/route/add/",
        {"name": "acme only", "parent": root.pk, "position": 5, "provider": acme.pk,
         "group_by": ["provider", "rule"], "repeat_interval_seconds": 600},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    route = Route.objects.get(name="acme only")
    assert route.group_by == ["provider", "rule"] and route.receiver is None
    assert routing.load_tree().children[-1].receiver.name == "delivery-log"  # inherited
    response = client.post(
        "/admin/monitoring/inhibitrule/add/",
        {"name": "bad", "target_rules": ["not-a-rule"]},
    )
    assert response.status_code == 200 and not InhibitRule.objects.filter(name="bad").exists()
    assert AuditRecord.objects.filter(action="monitoring.route_create").count() == 1
