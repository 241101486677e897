"""Alert notifications routed as Prometheus Alertmanager routes them.

An alert's labels are `provider` (code), `rule` and `severity` (choices.RULE_SEVERITY). Only
firing and acknowledged alerts are notified (a pending alert has not held long enough). Each
run of `dispatch_notifications(now=...)`:

1. drops the alerts a silence matches and those an inhibition rule inhibits (a suspended or
   failing provider's latency, error and drift alerts, by default);
2. sends each remaining alert down the routing tree (models.Route) to the routes it ends at;
3. puts it in its route's group: the alerts with the same values of the route's group_by;
4. flushes the groups that are due: a new group `group_wait` after it appeared, then every
   `group_interval`; a flush notifies when the group's firing alerts changed (new ones, or some
   resolved: sent when the receiver wants resolved notifications), or when nothing changed but
   `repeat_interval` passed since the last notification (only while an alert still fires
   unacknowledged); a group left with no alert is removed after its last flush;
5. sends the notifications that are due (e-mail through Django's mail backend, webhook by
   HTTP POST with the receiver's timeout), retrying failures with exponential back-off up to
   the receiver's max_attempts; every attempt is written to the notification's attempt_log.

While one of a route's mute windows is active, its due flushes send nothing and record nothing
as notified, so what was held back goes out at the first flush after the window.

Nothing sleeps: `now` is an argument, so tests drive a simulated timeline.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from monitoring import retries
from monitoring.choices import (
    OPEN_STATES,
    RULE_SEVERITY,
    AlertState,
    ReceiverKind,
)
from monitoring.models import (
    Alert,
    InhibitRule,
    Notification,
    NotificationGroup,
    Receiver,
    Route,
    Silence,
)
from wallets.choices import ProviderStatus
from wallets.models import Provider

logger = logging.getLogger("pitboss.monitoring")

_DISPATCH_LOCK = 0x6D6F6E03


def is_notified(alert: Alert) -> bool:
    """Firing, or acknowledged after it fired. An alert acknowledged while still pending never
    fired: someone took it on before anyone had to be told, so nobody is."""
    return alert.state == AlertState.FIRING or (
        alert.state == AlertState.ACKNOWLEDGED and alert.fired_at is not None
    )


def labels_of(alert: Alert, codes: dict[int, str]) -> dict[str, str]:
    return {
        "provider": codes.get(alert.provider_id, "") if alert.provider_id else "",
        "rule": alert.rule,
        "severity": RULE_SEVERITY.get(alert.rule, "warning"),
    }


# --- the routing tree ---------------------------------------------------------------------------


@dataclass
class EffectiveRoute:
    """A route with its inherited settings filled in."""

    route: Route
    receiver: Receiver
    group_by: list[str]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    children: list["EffectiveRoute"] = field(default_factory=list)

    def matches(self, labels: dict[str, str], codes: dict[int, str]) -> bool:
        route = self.route
        return (
            (not route.severity or route.severity == labels["severity"])
            and (not route.rule or route.rule == labels["rule"])
            and (route.provider_id is None or codes.get(route.provider_id) == labels["provider"])
        )

    def muted(self, now: datetime) -> bool:
        return any(window.active_at(now) for window in self.route.mute_windows.all())


def load_tree() -> EffectiveRoute | None:
    """The routing tree with inherited settings, or None when no root route exists."""
    routes = list(Route.objects.select_related("receiver").prefetch_related("mute_windows").all())
    children: dict[int | None, list[Route]] = {}
    for route in routes:
        children.setdefault(route.parent_id, []).append(route)
    roots = children.get(None, [])
    if not roots:
        return None

    def build(route: Route, parent: EffectiveRoute | None) -> EffectiveRoute:
        def pick(name, inherited):
            value = getattr(route, name)
            return inherited if value is None else value

        node = EffectiveRoute(
            route=route,
            receiver=route.receiver or (parent.receiver if parent else None),
            group_by=list(route.group_by)
            if route.group_by
            else (parent.group_by if parent else []),
            group_wait=timedelta(
                seconds=pick("group_wait_seconds", parent and parent.group_wait.total_seconds())
            ),
            group_interval=timedelta(
                seconds=pick(
                    "group_interval_seconds", parent and parent.group_interval.total_seconds()
                )
            ),
            repeat_interval=timedelta(
                seconds=pick(
                    "repeat_interval_seconds", parent and parent.repeat_interval.total_seconds()
                )
            ),
        )
        node.children = [
            build(child, node)
            for child in sorted(children.get(route.pk, []), key=lambda r: (r.position, r.pk))
        ]
        return node

    return build(roots[0], None)


def match_routes(
    node: EffectiveRoute, labels: dict[str, str], codes: dict[int, str]
) -> list[EffectiveRoute]:
    """The routes an alert ends at: depth first, the first matching child (and the siblings
    after it while they `continue_matching`); the node itself when no child matches."""
    matched: list[EffectiveRoute] = []
    for child in node.children:
        if child.matches(labels, codes):
            matched += match_routes(child, labels, codes)
            if not child.route.continue_matching:
                break
    return matched or [node]


def group_key(route: EffectiveRoute, labels: dict[str, str]) -> tuple[str, dict]:
    grouped = {name: labels[name] for name in sorted(route.group_by)}
    return ",".join(f"{k}={v}" for k, v in grouped.items()), grouped


# --- silences and inhibition --------------------------------------------------------------------


def inhibited_ids(alerts: list[Alert], labels: dict[int, dict], rules, statuses) -> set[int]:
    """Alerts an inhibition rule holds back: a source (a firing or acknowledged alert matching
    the rule's source, or a provider in one of its states) exists for the target's provider
    (or anywhere, without equal_provider). An alert never inhibits itself."""
    out = set()
    for rule in rules:
        sources = [
            a
            for a in alerts
            if is_notified(a)
            and (rule.source_rule or rule.source_severity)
            and (not rule.source_rule or a.rule == rule.source_rule)
            and (not rule.source_severity or labels[a.pk]["severity"] == rule.source_severity)
        ]
        state_providers = {
            pid for pid, state in statuses.items() if state in rule.source_provider_states
        }
        for alert in alerts:
            if rule.target_rules and alert.rule not in rule.target_rules:
                continue
            if rule.target_severity and labels[alert.pk]["severity"] != rule.target_severity:
                continue
            if rule.equal_provider:
                held = alert.provider_id in state_providers or any(
                    s.pk != alert.pk and s.provider_id == alert.provider_id for s in sources
                )
            else:
                held = bool(state_providers) or any(s.pk != alert.pk for s in sources)
            if held:
                out.add(alert.pk)
    return out


def silenced_ids(alerts: list[Alert], now: datetime) -> set[int]:
    silences = list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))
    return {a.pk for a in alerts if any(s.matches(a, now) for s in silences)}


# --- dispatch -----------------------------------------------------------------------------------


@dataclass
class DispatchResult:
    groups: int = 0
    queued: list[int] = field(default_factory=list)  # Notification ids
    inhibited: list[int] = field(default_factory=list)  # Alert ids
    silenced: list[int] = field(default_factory=list)
    muted: list[str] = field(default_factory=list)  # "route {key}" held back by a mute window
    sent: int = 0


def dispatch_notifications(*, now: datetime | None = None, send: bool = True) -> DispatchResult:
    """One run of the dispatcher (beat job, every 30 s; see the module's docstring)."""
    now = now or timezone.now()
    result = DispatchResult()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DISPATCH_LOCK])
        tree = load_tree()
        if tree is not None:
            _group_and_flush(tree, now, result)
    if send:
        result.sent = send_due(now=now)
    return result


def _group_and_flush(tree: EffectiveRoute, now: datetime, result: DispatchResult) -> None:
    codes = dict(Provider.objects.values_list("id", "code"))
    statuses = dict(Provider.objects.values_list("id", "status"))
    groups = {(g.route_id, g.key): g for g in NotificationGroup.objects.select_for_update()}
    referenced = {pk for g in groups.values() for pk in g.notified_alerts}
    alerts = list(Alert.objects.filter(state__in=OPEN_STATES))
    alerts += list(Alert.objects.filter(pk__in=referenced).exclude(state__in=OPEN_STATES))
    by_id = {a.pk: a for a in alerts}
    labels = {a.pk: labels_of(a, codes) for a in alerts}
    active = [a for a in alerts if is_notified(a)]
    result.silenced = sorted(silenced_ids(active, now))
    inhibiting_statuses = {
        pid: status for pid, status in statuses.items() if status != ProviderStatus.ACTIVE
    }
    result.inhibited = sorted(
        inhibited_ids(active, labels, list(InhibitRule.objects.all()), inhibiting_statuses)
        - set(result.silenced)
    )
    held = set(result.silenced) | set(result.inhibited)
    nodes: dict[int, EffectiveRoute] = {}
    members: dict[tuple[int, str], set[int]] = {}
    group_labels: dict[tuple[int, str], dict] = {}

    def walk(node):
        nodes[node.route.pk] = node
        for child in node.children:
            walk(child)

    walk(tree)
    for alert in active:
        if alert.pk in held:
            continue
        for route in match_routes(tree, labels[alert.pk], codes):
            key, grouped = group_key(route, labels[alert.pk])
            members.setdefault((route.route.pk, key), set()).add(alert.pk)
            group_labels[(route.route.pk, key)] = grouped
    for route_id, key in members:
        if (route_id, key) not in groups:
            groups[(route_id, key)] = NotificationGroup.objects.create(
                route_id=route_id,
                key=key,
                labels=group_labels[(route_id, key)],
                created_at=now,
                next_flush_at=now + nodes[route_id].group_wait,
            )
    for (route_id, key), group in groups.items():
        node = nodes.get(route_id)
        if node is None or group.next_flush_at > now:
            continue
        result.groups += 1
        firing = members.get((route_id, key), set())
        _flush(node, group, firing, by_id, labels, now, result)


def _flush(node, group, firing: set[int], by_id, labels, now, result) -> None:
    previously = set(group.notified_alerts)
    resolved = {
        pk for pk in previously - firing if pk in by_id and by_id[pk].state == AlertState.RESOLVED
    }
    changed = firing != previously
    unacknowledged = any(by_id[pk].state == AlertState.FIRING for pk in firing)
    repeat_due = (
        group.last_notified_at is not None
        and now - group.last_notified_at >= node.repeat_interval
        and unacknowledged
    )
    worth_sending = (
        (changed and (firing - previously or (resolved and node.receiver.send_resolved)))
        or repeat_due
        or (changed and firing and group.last_notified_at is None)
    )
    if worth_sending and node.muted(now):
        result.muted.append(f"{node.route.name} {{{group.key}}}")
        group.next_flush_at = now + node.group_interval
        group.save(update_fields=["next_flush_at"])
        return
    if worth_sending:
        notification = Notification.objects.create(
            route=node.route,
            receiver=node.receiver,
            group_key=group.key,
            firing=sorted(firing),
            resolved=sorted(resolved) if node.receiver.send_resolved else [],
            payload=_payload(node, group, firing, resolved, by_id, labels),
            next_attempt_at=now,
            created_at=now,
        )
        result.queued.append(notification.pk)
        group.last_notified_at = now
    group.notified_alerts = sorted(firing)
    if not firing:
        group.delete()
        return
    group.next_flush_at = now + node.group_interval
    group.save()


def _alert_entry(alert: Alert, labels: dict, status: str) -> dict:
    return {"status": status, "labels": labels, **retries.alert_fields(alert)}


def _payload(node, group, firing, resolved, by_id, labels) -> dict:
    send_resolved = node.receiver.send_resolved
    entries = [_alert_entry(by_id[pk], labels[pk], "firing") for pk in sorted(firing)]
    if send_resolved:
        entries += [_alert_entry(by_id[pk], labels[pk], "resolved") for pk in sorted(resolved)]
    return {
        "receiver": node.receiver.name,
        "route": node.route.name,
        "status": "firing" if firing else "resolved",
        "group_key": group.key,
        "group_labels": group.labels,
        "alerts": entries,
    }


# --- sending ------------------------------------------------------------------------------------


def _recipients(receiver: Receiver) -> list[str]:
    addresses = [a.strip() for a in receiver.email_to.split(",") if a.strip()]
    if receiver.email_staff:
        staff = (
            get_user_model()
            .objects.filter(is_staff=True, is_active=True)
            .exclude(email="")
            .order_by("email")
            .values_list("email", flat=True)
        )
        addresses += [a for a in staff if a not in addresses]
    return addresses


def _send(notification: Notification) -> str:
    """Send once; returns what the log keeps of a success. Raises on failure."""
    receiver = notification.receiver
    payload = notification.payload
    if receiver.kind == ReceiverKind.LOG:
        return "recorded only"
    if receiver.kind == ReceiverKind.WEBHOOK:
        status = retries.post_json(receiver.webhook_url, payload, timeout=receiver.timeout_seconds)
        return f"HTTP {status}"
    recipients = _recipients(receiver)
    if not recipients:
        raise ValueError("no recipient: no address given and no staff user has an e-mail")
    firing = sum(1 for a in payload["alerts"] if a["status"] == "firing")
    verb = f"FIRING:{firing}" if firing else "RESOLVED"
    summaries = "; ".join(a["summary"] for a in payload["alerts"])
    send_mail(
        subject=f"[Pitboss {verb}] {{{payload['group_key']}}} {summaries}"[:200],
        message=json.dumps(payload, indent=2),
        from_email=settings.ALERT_EMAIL_FROM,
        recipient_list=recipients,
        fail_silently=False,
    )
    return f"mailed {len(recipients)}"


def send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Try every pending notification that is due; a failure is logged and retried after
    ALERT_NOTIFY_BACKOFF_SECONDS * 2^(attempts-1), until the receiver's max_attempts, then the
    notification is `failed`. Concurrent runs skip rows another run is sending."""
    return retries.send_due_rows(
        Notification,
        send=_send,
        max_attempts=lambda notification: notification.receiver.max_attempts,
        related=("receiver",),
        now=now or timezone.now(),
        limit=limit,
    )
