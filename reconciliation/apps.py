from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self) -> None:
        from reconciliation import selectors
        from wallets import hooks

        # Drift figures for monitoring's alert rules: {provider_id: value}, open discrepancies
        # only. Wallet-level (internal) drift has no provider and is keyed under provider id 0.
        hooks.register_metric_source("drift_open_discrepancies", selectors.drift_open_discrepancies)
        hooks.register_metric_source("drift_total_minor", selectors.drift_total_minor)
        hooks.register_metric_source("drift_largest_minor", selectors.drift_largest_minor)
        hooks.register_attention_list(
            "discrepancies_open",
            selectors.open_discrepancies,
            changelist="admin:reconciliation_discrepancy_changelist",
            query="open_queue=yes",
        )
