"""Shared by the fuzz tests (test_fuzz_schema.py, test_fuzz_admin.py): one of everything the
back office acts on, and a fingerprint of the database to prove a refused call wrote nothing."""

from datetime import timedelta

from django.apps import apps
from django.db import connection
from django.utils import timezone

from compliance import policies
from compliance.choices import Severity, ViolationKind
from compliance.models import SecurityViolation
from fraud.choices import CaseKind
from fraud.models import Case, RuleSnooze
from monitoring import services as monitoring_services
from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert
from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus
from reconciliation.models import Discrepancy
from tests import factories
from tests.reconciliation.helpers import age_ledger, play, reconcile_rows, row
from wallets.models import ProviderCredential, Wallet

# Written in the background, not by the request (fraud baselines: a per-process writer thread).
_NOT_WATCHED = {"fraud_playerbaseline"}


def make_world(code: str = "fuzz") -> dict:
    """A provider with a played session, a report run, an alert, a discrepancy, a case and a
    violation: the objects the back office acts on, by the names of their path parameters."""
    provider, _ = factories.make_provider(code)
    player = factories.funded_player(500_00)
    session = play(provider, player, bets=[("b1", 10_00)])
    age_ledger(3600)
    run = reconcile_rows(provider, [row("b1", player, amount="9.00")])
    now = timezone.now()
    alert = Alert.objects.create(
        rule=AlertRule.LATENCY_P95, fingerprint=f"latency:{provider.pk}", provider=provider,
        state=AlertState.FIRING, summary="latency", started_at=now - timedelta(minutes=10),
        fired_at=now - timedelta(minutes=5), last_seen_at=now,
    )  # fmt: skip
    wallet = Wallet.objects.get(player=player, currency="EUR")
    discrepancy = Discrepancy.objects.create(
        kind=DiscrepancyKind.AMOUNT_MISMATCH, status=DiscrepancyStatus.OPEN, provider=provider,
        wallet=wallet, provider_transaction_id="b9", round_id="r-b9",
        player_external_id=player.external_id, transaction_kind="bet", currency="EUR",
        provider_amount_minor=9_00, wallet_amount_minor=10_00, drift_minor=1_00,
        occurred_at=now - timedelta(hours=2), opened_at=now - timedelta(hours=1),
    )  # fmt: skip
    case = Case.objects.create(
        kind=CaseKind.FLAG, player=player, wallet=wallet, provider=provider, currency="EUR",
        rule_keys=["withdrawal_velocity"], hits=[],
    )  # fmt: skip
    snooze = RuleSnooze.objects.create(
        player=player, rule_key="bonus_farming", starts_at=now, until=now + timedelta(days=7),
        reason="verified", created_by=factories.UserFactory(groups=["back_office"]),
    )  # fmt: skip
    violation = SecurityViolation.objects.create(
        provider=provider, kind=ViolationKind.SIGNATURE_FAILURES, severity=Severity.HIGH,
        occurred_at=now,
    )  # fmt: skip
    from fraud import services as fraud_services
    from fraud.models import Backtest, FraudList, FraudRule

    fraud_services.ensure_default_rules()
    draft = fraud_services.create_draft(
        rule=FraudRule.objects.get(key="withdrawal_velocity"), actor=None
    )
    backtest = Backtest.objects.create(version=draft, days=1)
    fraud_list = FraudList.objects.create(name="fuzz ranges", kind="ip", purpose="review")
    entry = fraud_services.add_list_entry(
        fraud_list=fraud_list, value="203.0.113.0/24", reason="fuzz", actor=None
    )
    # Rows made on first read (a read that makes them is not a write of the request).
    policies.global_policy()
    monitoring_services.ensure_profiles()
    return {
        "provider": provider,
        "player": player,
        "session": session,
        "alert": alert,
        "run": run,
        "discrepancy": discrepancy,
        "case": case,
        "snooze": snooze,
        "violation": violation,
        "transaction": session.transactions.first(),
        "fingerprint": ProviderCredential.objects.filter(provider=provider).first().fingerprint,
        "rule_version": draft,
        "backtest": backtest,
        "fraud_list": fraud_list,
        "list_entry": entry,
    }


_WATCHED_APPS = ["wallets", "monitoring", "reconciliation", "fraud", "compliance", "authtoken"]


def _watched_tables() -> list[str]:
    tables = [
        model._meta.db_table
        for label in [*_WATCHED_APPS, "auth"]
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        if not model._meta.proxy
    ]
    return sorted(set(tables) - _NOT_WATCHED)


class Fingerprint:
    """Each watched table's row count and a digest of all its rows, in one query: equal
    fingerprints before and after a call mean the call wrote nothing (money, sessions, cases,
    reports, audit records, policies, ...)."""

    def __init__(self) -> None:
        parts = [
            f"SELECT '{table}', count(*), "
            f"md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            for table in _watched_tables()
        ]
        self.sql = " UNION ALL ".join(parts)
        # The fingerprint after the last refused call: still the state before the next one.
        self.last: dict | None = None

    def take(self) -> dict[str, tuple[int, str]]:
        with connection.cursor() as cursor:
            cursor.execute(self.sql)
            return {table: (count, digest) for table, count, digest in cursor.fetchall()}

    @staticmethod
    def changed(before: dict, after: dict) -> list[str]:
        return [table for table in before if before[table] != after[table]]
