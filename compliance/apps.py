from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Provider security compliance"

    def ready(self) -> None:
        """Install compliance in the wallet through wallets.hooks (the only way in): the request
        inspector (sensitive data, TLS), the call observer (signature failures, clock skew,
        allowlist), the credential lifetime, and the violation metric sources."""
        from compliance import policies, selectors, services
        from compliance.models import GlobalSecurityPolicy, ProviderSecurityPolicy
        from wallets import hooks

        if services.inspect_request not in hooks.request_inspectors:
            hooks.request_inspectors.append(services.inspect_request)
        if services.observe_call not in hooks.call_observers:
            hooks.call_observers.append(services.observe_call)
        hooks.credential_lifetime = services.credential_lifetime
        hooks.register_metric_source("security_violations", selectors.alerting_violation_counts)
        hooks.register_metric_source("security_violations_total", selectors.total_violation_counts)
        hooks.register_attention_list(
            "security_violations_in_window",
            selectors.violations_in_window,
            changelist="admin:compliance_securityviolation_changelist",
            query="in_window=yes",
        )
        for model in (GlobalSecurityPolicy, ProviderSecurityPolicy):
            for signal in (post_save, post_delete):
                signal.connect(
                    policies.invalidate,
                    sender=model,
                    dispatch_uid=f"compliance.policy.{model.__name__}.{signal is post_save}",
                )
