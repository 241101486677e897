from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self) -> None:
        from reconciliation import selectors, services
        from wallets import hooks

        # A provider's reversal of a win the player no longer has: the ledger refused it;
        # staff settle it from a discrepancy.
        if services.record_refused_reversal not in hooks.incident_reporters:
            hooks.incident_reporters.append(services.record_refused_reversal)

        # Drift figures for monitoring's alert rules: {provider_id: value}, open discrepancies
        # only. Wallet-level (internal) drift has no provider and is keyed under provider id 0.
        hooks.register_metric_source("drift_open_discrepancies", selectors.drift_open_discrepancies)
        hooks.register_metric_source("drift_total_minor", selectors.drift_total_minor)
        hooks.register_metric_source("drift_largest_minor", selectors.drift_largest_minor)
        # Broken hash chains: monitoring's tamper alert names each wallet's first broken row.
        hooks.register_ledger_break_source(selectors.open_ledger_breaks)
        hooks.register_attention_list(
            "discrepancies_open",
            selectors.open_discrepancies,
            changelist="admin:reconciliation_discrepancy_changelist",
            query="open_queue=yes",
        )
