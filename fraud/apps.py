from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud and holds"

    def ready(self) -> None:
        """Install the fraud app in the money path through wallets.hooks (the only way in):
        the screener, the after-commit baseline updater, the declined-bet recorder and the
        oldest-hold metric source."""
        from fraud import lists, screening, selectors
        from fraud.models import FraudList, FraudRule, ListEntry, RuleVersion
        from wallets import hooks

        hooks.screener = screening.screen
        if screening.on_ledger_row not in hooks.ledger_listeners:
            hooks.ledger_listeners.append(screening.on_ledger_row)
        if screening.on_decline not in hooks.decline_recorders:
            hooks.decline_recorders.append(screening.on_decline)
        hooks.register_metric_source(
            "fraud_oldest_hold_seconds", selectors.oldest_hold_seconds_by_provider
        )
        post_save.connect(
            screening.invalidate_rule_cache, sender=FraudRule, dispatch_uid="fraud.rules.saved"
        )
        post_delete.connect(
            screening.invalidate_rule_cache, sender=FraudRule, dispatch_uid="fraud.rules.deleted"
        )
        post_save.connect(
            screening.invalidate_rule_cache, sender=RuleVersion, dispatch_uid="fraud.version.saved"
        )
        for model in (FraudList, ListEntry):
            for signal in (post_save, post_delete):
                signal.connect(
                    lists.invalidate_list_cache,
                    sender=model,
                    dispatch_uid=f"fraud.lists.{model.__name__}.{signal is post_save}",
                )
        post_migrate.connect(_seed_rules, sender=self, dispatch_uid="fraud.seed_rules")


def _seed_rules(sender, **kwargs) -> None:
    # The data migration seeds the rules; this re-creates missing ones after a test flush.
    from fraud import services

    apps = kwargs.get("apps")
    if apps is None:
        # `flush` (a transactional test's teardown) sends no app registry: the schema is the
        # current one, so the real models apply.
        from fraud.models import FraudRule, RuleVersion

        services.ensure_default_rules(rule_model=FraudRule, version_model=RuleVersion)
        return
    try:
        model = apps.get_model("fraud", "FraudRule")
        versions = apps.get_model("fraud", "RuleVersion")
    except LookupError:  # fraud not migrated (yet)
        return
    services.ensure_default_rules(rule_model=model, version_model=versions)
