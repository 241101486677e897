from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    """Provider simulator and wallet conformance kit: HTTP clients of the wallet, no models."""

    name = "simulator"
    verbose_name = "Provider simulator"
