from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring import (
            capture,
            checks,  # noqa: F401 - registers `check --deploy`'s checks
        )
        from wallets import hooks

        # Every wallet API call is counted in Redis (see monitoring.capture).
        if capture.record_call not in hooks.call_observers:
            hooks.call_observers.append(capture.record_call)
