"""GET /metrics: the monitoring figures in the Prometheus text format (version 0.0.4).

Access: with METRICS_TOKEN set, a request needs `Authorization: Bearer <METRICS_TOKEN>` or a
staff login. Without a token configured, logged-in staff and local callers may read it: a
caller on the loopback address whose request was not forwarded. A request that carries a
forwarding header (X-Forwarded-For, Forwarded, X-Real-IP, X-Forwarded-Host) or comes from one
of the proxy's own addresses (PROXY_ADDRESSES) came through a proxy, from anywhere: it is not
local, so a proxy on the same host does not make the world a loopback caller. Anyone else gets
403 (`manage.py check --deploy` warns, pitboss.W001, when production runs without a token).
Counters are totals since the start: the flushed running totals in PostgreSQL plus what Redis
still holds.
"""

import hmac
from collections import defaultdict

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from monitoring import capture, histogram, selectors
from monitoring.choices import OPEN_STATES
from monitoring.models import Alert, FlushedBatch, MetricTotal
from wallets import partitions as ledger_partitions
from wallets import selectors as wallet_selectors
from wallets.models import Provider

UNKNOWN = "_unknown"
_LOOPBACK = {"127.0.0.1", "::1"}


# Any of these says a proxy forwarded the request for someone else.
_FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
    "HTTP_X_FORWARDED_HOST",
)


def local_caller(request) -> bool:
    """A caller on this host, talking to us directly: a loopback address that is not the
    proxy's, and no forwarding header."""
    address = request.META.get("REMOTE_ADDR")
    if address not in _LOOPBACK or address in settings.PROXY_ADDRESSES:
        return False
    return not any(name in request.META for name in _FORWARDING_HEADERS)


def _allowed(request) -> bool:
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "")
        return hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())
    return local_caller(request)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, metric: str, value, /, **labels) -> None:
        # Positional-only: `name` is a label too (of published figures).
        self.lines.append(f"{metric}{_labels(**labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _call_totals() -> tuple[dict[tuple[str, str], dict], int]:
    """{(provider code, operation): figures} since the start, and the lost observations."""
    codes = dict(Provider.objects.values_list("id", "code"))
    known = set(codes.values())
    totals: dict[tuple[str, str], dict] = defaultdict(capture.new_figures)
    for row in MetricTotal.objects.all():
        key = (codes.get(row.provider_id, UNKNOWN), row.operation)
        figures = totals[key]
        figures["calls"] += row.calls
        figures["duplicates"] += row.duplicates
        for code, count in row.outcomes.items():
            figures["outcomes"][code] = figures["outcomes"].get(code, 0) + count
        figures["latency_buckets"] = histogram.merge(
            [figures["latency_buckets"], row.latency_buckets]
        )
        figures["lock_wait_buckets"] = histogram.merge(
            [figures["lock_wait_buckets"], row.lock_wait_buckets]
        )
        figures["latency_sum_us"] += row.latency_sum_us
        figures["lock_wait_sum_us"] += row.lock_wait_sum_us
    lost = FlushedBatch.objects.aggregate(lost=Coalesce(Sum("lost"), 0))["lost"]
    for _minute, groups, live_lost in selectors.live_minutes(
        selectors.pending_minutes(), include_flushing=True
    ):
        lost += live_lost
        for (code, operation), live in groups.items():
            figures = totals[(code if code in known else UNKNOWN, operation)]
            figures["calls"] += live["calls"]
            figures["duplicates"] += live["duplicates"]
            for outcome, count in live["outcomes"].items():
                figures["outcomes"][outcome] = figures["outcomes"].get(outcome, 0) + count
            figures["latency_buckets"] = histogram.merge(
                [figures["latency_buckets"], live["latency_buckets"]]
            )
            figures["lock_wait_buckets"] = histogram.merge(
                [figures["lock_wait_buckets"], live["lock_wait_buckets"]]
            )
            figures["latency_sum_us"] += live["latency_sum_us"]
            figures["lock_wait_sum_us"] += live["lock_wait_sum_us"]
    return dict(totals), lost


def _histogram(out: _Writer, name: str, buckets, sum_us: int, **labels) -> None:
    cumulative = 0
    for bound, count in zip(histogram.BOUNDS_US, buckets, strict=False):
        cumulative += count
        out.sample(f"{name}_bucket", cumulative, **labels, le=repr(bound / 1_000_000))
    cumulative += buckets[-1]
    out.sample(f"{name}_bucket", cumulative, **labels, le="+Inf")
    out.sample(f"{name}_sum", sum_us / 1_000_000, **labels)
    out.sample(f"{name}_count", cumulative, **labels)


_LATEST_GAUGES_SQL = """
SELECT DISTINCT ON (g.provider_id, g.name) p.code, g.name, g.value
FROM monitoring_gaugeminute g JOIN wallets_provider p ON p.id = g.provider_id
WHERE g.minute >= now() - interval '10 minutes'
ORDER BY g.provider_id, g.name, g.minute DESC
"""


def render_metrics() -> str:
    capture.drain()  # this process's queued observations first, so a scrape sees them
    out = _Writer()
    totals, lost = _call_totals()
    keys = sorted(totals)
    out.family("pitboss_wallet_calls_total", "counter", "Wallet API calls.")
    for code, op in keys:
        out.sample("pitboss_wallet_calls_total", totals[(code, op)]["calls"], provider=code,
                   operation=op)  # fmt: skip
    out.family(
        "pitboss_wallet_call_errors_total",
        "counter",
        "Failed wallet API calls (not OK and not a foreseen refusal such as INSUFFICIENT_FUNDS).",
    )
    for code, op in keys:
        errors = selectors.errors_of(totals[(code, op)]["outcomes"])
        out.sample("pitboss_wallet_call_errors_total", errors, provider=code, operation=op)
    out.family("pitboss_wallet_call_outcomes_total", "counter", "Wallet API calls by outcome.")
    for code, op in keys:
        for outcome, count in sorted(totals[(code, op)]["outcomes"].items()):
            out.sample("pitboss_wallet_call_outcomes_total", count, provider=code, operation=op,
                       outcome=outcome)  # fmt: skip
    out.family("pitboss_wallet_duplicates_total", "counter", "Idempotent replays answered.")
    for code, op in keys:
        out.sample("pitboss_wallet_duplicates_total", totals[(code, op)]["duplicates"],
                   provider=code, operation=op)  # fmt: skip
    out.family("pitboss_wallet_latency_seconds", "histogram", "Wallet-side latency per call.")
    for code, op in keys:
        figures = totals[(code, op)]
        _histogram(out, "pitboss_wallet_latency_seconds", figures["latency_buckets"],
                   figures["latency_sum_us"], provider=code, operation=op)  # fmt: skip
    out.family(
        "pitboss_wallet_lock_wait_seconds", "histogram", "Time waiting for the wallet row lock."
    )
    for code, op in keys:
        figures = totals[(code, op)]
        _histogram(out, "pitboss_wallet_lock_wait_seconds", figures["lock_wait_buckets"],
                   figures["lock_wait_sum_us"], provider=code, operation=op)  # fmt: skip
    out.family("pitboss_open_sessions", "gauge", "Open game sessions.")
    out.family("pitboss_orphaned_sessions", "gauge", "Open sessions idle past the timeout.")
    figures = wallet_selectors.session_figures()
    for f in figures:
        out.sample("pitboss_open_sessions", f.open_sessions, provider=f.provider)
    for f in figures:
        out.sample("pitboss_orphaned_sessions", f.orphaned_open_sessions, provider=f.provider)
    out.family("pitboss_provider_status", "gauge", "1 for the provider's current status.")
    for code, status in Provider.objects.order_by("code").values_list("code", "status"):
        out.sample("pitboss_provider_status", 1, provider=code, status=status)
    out.family("pitboss_alerts_open", "gauge", "Open alerts by provider, rule and state.")
    open_alerts = defaultdict(int)
    for code, rule, state in Alert.objects.filter(state__in=OPEN_STATES).values_list(
        "provider__code", "rule", "state"
    ):
        open_alerts[(code or "", rule, state)] += 1
    for (code, rule, state), count in sorted(open_alerts.items()):
        out.sample("pitboss_alerts_open", count, provider=code, rule=rule, state=state)
    out.family(
        "pitboss_ledger_future_partitions",
        "gauge",
        "Months after the current one the ledger's partitions cover (alert below 2).",
    )
    out.sample("pitboss_ledger_future_partitions", ledger_partitions.future_months())
    out.family("pitboss_figure", "gauge", "Latest published figures (drift, violations, ...).")
    with connection.cursor() as cursor:
        cursor.execute(_LATEST_GAUGES_SQL)
        for code, name, value in cursor.fetchall():
            out.sample("pitboss_figure", value, provider=code, name=name)  # exact Decimal
    out.family("pitboss_metrics_lost_total", "counter",
               "Wallet calls whose metrics could not be recorded (Redis unavailable).")  # fmt: skip
    out.sample("pitboss_metrics_lost_total", lost + capture.state.lost_unreported)
    out.family("pitboss_metrics_lost_process_total", "counter",
               "Calls this process could not record, since it started.")  # fmt: skip
    out.sample("pitboss_metrics_lost_process_total", capture.lost_in_this_process())
    return out.text()


@require_GET
def metrics_view(request):
    if not _allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")
