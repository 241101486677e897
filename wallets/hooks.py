"""The one place where other apps react to the wallet.

`wallets` imports no other app. Monitoring and fraud register here from their AppConfig.ready():

- `call_observers`: told of every provider API call, refused or not, after the response is
  built (operation, provider code, outcome code, latency). They must be cheap and must never
  raise into the wallet: an observer's failure is counted and swallowed.
- `screener`: asked in the money path whether a bet, win, deposit or withdrawal may go through
  (allow / flag / hold / decline): provider calls just before their ledger function, payments
  under the wallet row lock. It must use precomputed figures only, never scan history.
  A screener may carry a `screening_filter` attribute: (kind, amount_minor) -> whether it could
  decide anything but "allow" for such a call. When that says no, the wallet API books the call
  without reading its session first (one round trip less); a screener without one sees every
  call.
- `ledger_listeners`: told after commit of each posted or held ledger row (for baselines and
  pattern rules), outside the lock. The row is a Transaction, or for the provider's bets and
  wins a `ledger.WrittenRow` with the same attribute names (no model instance on the hot path).
- `request_inspectors`: shown each authenticated wallet API call after its body is parsed and
  before the operation runs (compliance: sensitive data, TLS). They may redact `data` and
  `request_id` in place; they run on the hot path, so no query unless something is found. An
  inspector that raises fails the call (500): better refused than stored unredacted.
- `incident_reporters`: told when the ledger refuses something that staff must settle by
  hand (a provider's reversal of a win the player no longer has: the balance never goes below
  zero, so the money is the operator's to recover). Reconciliation opens a discrepancy.
- `credential_lifetime`: how long a newly issued provider credential lives (None: no expiry).
- `metric_sources`: figures that apps publish for monitoring's alert rules and dashboard
  (reconciliation publishes drift, compliance publishes violations, ...). Monitoring reads
  them; no app imports another to raise an alert.
- `player_page_inlines`: admin inlines that apps add to the player's page (the protection app
  shows limits and exclusions there).
- `attention_lists`: lists that apps publish for the admin home panel (one selector for the
  card's count and the list page it links to).
- `ledger_break_sources`: wallets whose ledger hash chain was found broken and not yet settled
  (reconciliation's verification publishes them); monitoring raises one alert per wallet naming
  the first broken row.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallObservation:
    provider_code: str
    operation: str
    outcome: str  # "OK" or an error code
    latency_us: int
    lock_wait_us: int = 0
    duplicate: bool = False
    provider_id: int | None = None  # None when the call named no known provider
    client_ip: str | None = None
    request_id: str = ""
    # The wallet protocol of the call (wallets/adapters) and its own status word for the
    # outcome (RS_OK, INSUFFICIENT_FUNDS, 0, ...); `outcome` is the canonical code.
    protocol: str = "native"
    protocol_status: str = ""


ALLOW, FLAG, HOLD, DECLINE = "allow", "flag", "hold", "decline"


@dataclass(frozen=True)
class Screening:
    action: str = ALLOW
    # What fired and with which figures; stored with the case or hold.
    hits: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ScreeningRequest:
    kind: str  # bet, win, deposit, withdrawal
    player_id: int
    wallet_id: int
    currency: str
    amount_minor: int
    provider_id: int | None = None
    session_id: int | None = None
    client_ip: str | None = None
    seconds_since_authentication: float | None = None
    # Deposits and withdrawals: the gateway's payment fingerprint, when it sent one.
    payment_fingerprint: str | None = None


ALLOW_ALL = Screening()


@dataclass
class InspectedRequest:
    """An authenticated wallet API call about to run; inspectors may redact `data` and
    `request_id` in place (the view uses what they leave)."""

    provider: Any
    operation: str
    data: dict
    client_ip: str | None
    is_secure: bool
    request_id: str
    # False when the wallet generated the id (random hex): only a caller's id can carry data.
    request_id_from_caller: bool = True


# What wallets.ledger refused and staff must settle (incident_reporters).
WIN_REVERSAL_REFUSED = "win_reversal_refused"


@dataclass(frozen=True)
class LedgerIncident:
    kind: str
    provider_id: int | None
    player_id: int
    wallet_id: int | None
    currency: str
    available_minor: int
    external_id: str  # the refused call's id
    reference_external_id: str = ""  # what it referred to
    round_id: str = ""
    detail: str = ""


call_observers: list[Callable[[CallObservation], None]] = []
incident_reporters: list[Callable[[LedgerIncident], None]] = []
# (transaction, screening) of each posted or held row, after commit.
ledger_listeners: list[Callable[[Any, Screening], None]] = []
# Screener: (ScreeningRequest) -> Screening. Declines are reported to `decline_recorders`
# after the refused call's transaction is rolled back, so the case survives the refusal.
screener: Callable[[ScreeningRequest], Screening] | None = None
decline_recorders: list[Callable[[ScreeningRequest, Screening], None]] = []

request_inspectors: list[Callable[[InspectedRequest], None]] = []
# (provider) -> timedelta or None: the expiry given to a newly issued credential.
credential_lifetime: Callable[[Any], Any] | None = None

# name -> callable returning {provider_id: value} for every provider with a figure. Amounts are
# integer minor units and counts integers; a float only for what is not money (seconds).
metric_sources: dict[str, Callable[[], dict[int, Any]]] = {}


def register_metric_source(name: str, source: Callable[[], dict[int, Any]]) -> None:
    metric_sources[name] = source


@dataclass(frozen=True)
class AttentionList:
    """A list of rows staff should look at, counted on the admin home panel. `selector(queryset)`
    narrows a queryset of the owning app's model (None: all its rows) to the list; the owning
    app's admin changelist applies the same selector when opened with `query` (a list filter
    from `wallets.admin_filters.attention_filter`), so the count on the card and the rows on
    the page it links to come from one place."""

    selector: Callable[[Any], Any]
    changelist: str  # admin URL name, e.g. "admin:compliance_securityviolation_changelist"
    query: str  # the query string that makes that changelist apply `selector`


# name -> AttentionList, registered by the owning app's AppConfig.ready().
attention_lists: dict[str, AttentionList] = {}
player_page_inlines: list[Any] = []


def register_attention_list(
    name: str, selector: Callable[[Any], Any], *, changelist: str, query: str
) -> None:
    attention_lists[name] = AttentionList(selector=selector, changelist=changelist, query=query)


@dataclass(frozen=True)
class LedgerBreak:
    """A wallet whose hash chain (wallets/sql/ledger.sql) no longer verifies: `row_id` is the
    first row that breaks it; `reference` says where staff settle it (e.g. "discrepancy #12")."""

    wallet_id: int
    row_id: int | None
    provider_id: int | None
    player_id: int | None
    currency: str
    reference: str


# Callables returning the unsettled breaks, registered by the app that verifies the chains.
ledger_break_sources: list[Callable[[], list[LedgerBreak]]] = []


def register_ledger_break_source(source: Callable[[], list[LedgerBreak]]) -> None:
    if source not in ledger_break_sources:
        ledger_break_sources.append(source)


# Counts of observer failures, so a broken observer is visible, not silent.
observer_failures = {"count": 0}


def screen(request: ScreeningRequest) -> Screening:
    if screener is None:
        return ALLOW_ALL
    return screener(request)


def screening_needed(kind: str, amount_minor: int) -> bool:
    """Whether a call of this kind and amount has to be shown to the screener."""
    if screener is None:
        return False
    screening_filter = getattr(screener, "screening_filter", None)
    if screening_filter is None:
        return True
    return screening_filter(kind, amount_minor)


def inspect_request(inspection: InspectedRequest) -> None:
    for inspector in request_inspectors:
        inspector(inspection)


def observe_call(observation: CallObservation) -> None:
    for observer in call_observers:
        try:
            observer(observation)
        except Exception:
            observer_failures["count"] += 1
            logger.exception("wallet call observer %r failed", observer)


def notify_ledger(transaction: Any, screening: Screening) -> None:
    for listener in ledger_listeners:
        try:
            listener(transaction, screening)
        except Exception:
            logger.exception("ledger listener %r failed", listener)


def report_incident(incident: LedgerIncident) -> None:
    for reporter in incident_reporters:
        try:
            reporter(incident)
        except Exception:
            logger.exception("incident reporter %r failed", reporter)


def record_decline(request: ScreeningRequest, screening: Screening) -> None:
    for recorder in decline_recorders:
        try:
            recorder(request, screening)
        except Exception:
            logger.exception("decline recorder %r failed", recorder)
