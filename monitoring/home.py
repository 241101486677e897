"""The admin home panel: what needs attention now, ordered for the signed-in user's role.

Monitoring owns the panel because it reads monitoring data (provider health, alerts); figures
of other apps come only through `wallets.hooks.metric_sources` (fraud publishes
"fraud_oldest_hold_seconds", reconciliation "drift_open_discrepancies"), never by import. A
figure whose app is not installed, or whose source fails, shows as unavailable: the admin
front page must never break because of one panel.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from monitoring import selectors
from monitoring.choices import AlertState
from wallets import hooks
from wallets import selectors as wallet_selectors
from wallets.choices import SessionStatus
from wallets.models import GameSession

logger = logging.getLogger(__name__)

# What the providers card counts: the monitoring dashboard's states (health, or the status of
# a restricted or suspended provider).
HEALTH_STATES = selectors.OVERVIEW_STATES
# The alert list's "open" filter (monitoring.admin): the same selector as the alerts card.
OPEN_ALERTS_QUERY = "open=yes"

# Which cards each role sees first; cards a user may not see are dropped afterwards.
ROLE_ORDER = {
    "support": ["sessions", "providers", "alerts"],
    "compliance": ["providers", "violations", "alerts", "holds", "discrepancies"],
    "back_office": ["holds", "alerts", "discrepancies", "providers", "sessions"],
    "integrator": ["providers", "api_docs", "reports"],
}
SUPERUSER_ORDER = [
    "providers",
    "alerts",
    "holds",
    "discrepancies",
    "sessions",
    "violations",
    "api_docs",
]
ROLE_LABELS = {
    "support": "Support",
    "compliance": "Compliance",
    "back_office": "Back office",
    "integrator": "Integrator",
}


@dataclass
class Card:
    key: str
    title: str
    # The headline figure; None when the figure is unavailable.
    value: str | None
    link: str | None = None
    link_text: str = ""
    detail: str = ""
    empty: bool = False  # nothing needs attention: the card shows `detail` as its empty state
    attention: bool = False  # something is waiting: highlighted
    extra: dict = field(default_factory=dict)


def _url(name: str, query: str = "") -> str | None:
    try:
        url = reverse(name)
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


def _published(name: str) -> dict[int, int | float] | None:
    source = hooks.metric_sources.get(name)
    if source is None:
        return None
    try:
        return source()
    except Exception:  # a broken figure must not break the admin front page
        logger.exception("home panel: metric source %s failed", name)
        return None


def age_text(seconds: float) -> str:
    """A short human age: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _providers_card(user) -> Card | None:
    if not user.has_perm("wallets.view_provider"):
        return None
    # The dashboard's own rows: the card counts exactly what the page it links to lists.
    overview = selectors.provider_overview()
    counts = {state: sum(1 for row in overview if row.state == state) for state in HEALTH_STATES}
    if not overview:
        return Card(
            key="providers",
            title="Providers",
            value="0",
            link=_url("admin:wallets_provider_changelist"),
            link_text="Providers",
            detail="No provider is configured yet: add one (or run manage.py seed_demo).",
            empty=True,
        )
    troubled = [row.provider.code for row in overview if row.state != "healthy"]
    return Card(
        key="providers",
        title="Providers",
        value=str(len(overview)),
        link=_url("monitoring-dashboard"),
        link_text="Monitoring dashboard",
        detail=(
            "Not healthy: " + ", ".join(troubled[:5]) + (" ..." if len(troubled) > 5 else "")
            if troubled
            else "Every provider is healthy."
        ),
        attention=bool(troubled),
        extra={"counts": counts},
    )


def _alerts_card(user) -> Card | None:
    if not user.has_perm("monitoring.view_alert"):
        return None
    # One selector for the count and the list the card links to (the alert list's "open" filter).
    open_alerts = selectors.open_alerts()
    total = open_alerts.count()
    firing = open_alerts.filter(state=AlertState.FIRING).count()
    if not total:
        return Card(
            key="alerts",
            title="Open alerts",
            value="0",
            link=_url("admin:monitoring_alert_changelist"),
            link_text="Alert history",
            detail="No open alert: every rule is quiet.",
            empty=True,
        )
    return Card(
        key="alerts",
        title="Open alerts",
        value=str(total),
        link=_url("admin:monitoring_alert_changelist", OPEN_ALERTS_QUERY),
        link_text="Review alerts",
        detail=f"{firing} firing, {total - firing} pending or acknowledged.",
        attention=bool(firing),
    )


def _holds_card(user, now) -> Card | None:
    if not user.has_perm("fraud.view_case"):
        return None
    figures = _published("fraud_oldest_hold_seconds")
    link = _url("admin:fraud_case_changelist", "kind__exact=hold&status__exact=open&o=2")
    if figures is None:
        return Card(
            key="holds",
            title="Oldest undecided hold",
            value=None,
            detail="The hold figure is not available (fraud app not installed).",
        )
    # Key 0 is the platform-wide figure (every hold); otherwise the oldest per provider.
    seconds = figures.get(0, max(figures.values(), default=None))
    if seconds is None:
        return Card(
            key="holds",
            title="Oldest undecided hold",
            value="none",
            link=link,
            link_text="Holds queue",
            detail="No hold is waiting for a decision.",
            empty=True,
        )
    return Card(
        key="holds",
        title="Oldest undecided hold",
        value=age_text(seconds),
        link=link,
        link_text="Decide holds",
        detail="waiting since",
        attention=True,
        extra={"since": now - timedelta(seconds=seconds)},
    )


def _attention_list(name: str):
    """(count, link) of a list another app published (wallets.hooks.attention_lists), both
    from its one selector; None when the app is not installed or the count fails."""
    entry = hooks.attention_lists.get(name)
    if entry is None:
        return None
    try:
        count = entry.selector(None).count()
    except Exception:  # a broken figure must not break the admin front page
        logger.exception("home panel: attention list %s failed", name)
        return None
    return count, _url(entry.changelist, entry.query)


def _discrepancies_card(user) -> Card | None:
    if not user.has_perm("reconciliation.view_discrepancy"):
        return None
    found = _attention_list("discrepancies_open")
    if found is None:
        return Card(
            key="discrepancies",
            title="Open discrepancies",
            value=None,
            detail="The drift figure is not available (reconciliation app not installed).",
        )
    total, link = found
    if not total:
        return Card(
            key="discrepancies",
            title="Open discrepancies",
            value="0",
            link=link,
            link_text="Discrepancy queue",
            detail="Ledger and provider reports agree: nothing to reconcile.",
            empty=True,
        )
    return Card(
        key="discrepancies",
        title="Open discrepancies",
        value=str(total),
        link=link,
        link_text="Work the queue",
        detail="Drift between the ledger and provider reports.",
        attention=True,
    )


def _sessions_card(user) -> Card | None:
    if not user.has_perm("wallets.view_gamesession"):
        return None
    now = timezone.now()
    # The count and the list it links to (`?orphaned=yes`) come from one selector.
    orphaned = wallet_selectors.orphaned_sessions(now=now).count()
    open_sessions = GameSession.objects.filter(status=SessionStatus.OPEN).count()
    link = _url("admin:wallets_gamesession_changelist", "orphaned=yes")
    if orphaned:
        return Card(
            key="sessions",
            title="Orphaned sessions",
            value=str(orphaned),
            link=link,
            link_text="Orphaned sessions",
            detail=f"Idle past their provider's timeout ({open_sessions} open in all).",
            attention=True,
        )
    return Card(
        key="sessions",
        title="Orphaned sessions",
        value="0",
        link=link,
        link_text="Orphaned sessions",
        detail=f"No orphaned session; {open_sessions} open.",
        empty=True,
    )


def _violations_card(user) -> Card | None:
    if not user.has_perm("compliance.view_securityviolation"):
        return None
    found = _attention_list("security_violations_in_window")
    if found is None or found[1] is None:
        return None
    count, link = found
    return Card(
        key="violations",
        title="Security violations",
        value=str(count),
        link=link,
        link_text="Violations in the window",
        detail="Records in each provider's policy window."
        if count
        else "No violation in the policy window.",
        empty=not count,
        attention=bool(count),
    )


def _api_docs_card(user) -> Card | None:
    if not user.has_perm("wallets.view_provider"):
        return None
    link = _url("swagger-ui")
    if link is None:
        return None
    return Card(
        key="api_docs",
        title="API documentation",
        value=None,
        link=_url("pitboss-docs") or link,
        link_text="Documentation",
        detail="The provider wallet contract, each protocol's page and the back-office API "
        "(Swagger UI); certify an integration with manage.py wallet_conformance.",
    )


def _reports_card(user) -> Card | None:
    if not user.has_perm("reconciliation.view_providerreport"):
        return None
    link = _url("admin:reconciliation_providerreport_changelist")
    if link is None:
        return None
    return Card(
        key="reports",
        title="Provider reports",
        value=None,
        link=link,
        link_text="Uploaded reports",
        detail="Upload a provider's report to reconcile it against the ledger.",
    )


def card_order(user) -> list[str]:
    if user.is_superuser:
        return list(SUPERUSER_ORDER)
    order: list[str] = []
    for group in user.groups.order_by("name").values_list("name", flat=True):
        for key in ROLE_ORDER.get(group, []):
            if key not in order:
                order.append(key)
    # Cards a user may see but no role of theirs ranks come last.
    for key in SUPERUSER_ORDER:
        if key not in order:
            order.append(key)
    return order


def roles_of(user) -> list[str]:
    if user.is_superuser:
        return ["Administrator"]
    names = user.groups.order_by("name").values_list("name", flat=True)
    return [ROLE_LABELS.get(name, name) for name in names]


def home_panel(user, *, now=None) -> dict:
    """The panel's context for `user`: the cards they may see, in their role's order, and the
    operator's time zone. Each card is computed only when it is shown."""
    now = now or timezone.now()
    builders = {
        "providers": lambda: _providers_card(user),
        "alerts": lambda: _alerts_card(user),
        "holds": lambda: _holds_card(user, now),
        "discrepancies": lambda: _discrepancies_card(user),
        "sessions": lambda: _sessions_card(user),
        "violations": lambda: _violations_card(user),
        "api_docs": lambda: _api_docs_card(user),
        "reports": lambda: _reports_card(user),
    }
    cards = []
    if user.is_active and user.is_staff:
        for key in card_order(user):
            card = builders[key]() if key in builders else None
            if card is not None:
                cards.append(card)
    return {
        "cards": cards,
        "roles": roles_of(user),
        "time_zone": settings.TIME_ZONE,
        "now": now,
    }
