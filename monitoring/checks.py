"""System checks of the monitoring app, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def metrics_token_in_production(app_configs, **kwargs):
    """pitboss.W001: in production /metrics should need a token. Without one, local callers
    and staff may read it (monitoring.metrics.local_caller): safe only while nothing on this
    host forwards outside requests to the application without a forwarding header."""
    if settings.DEVELOPMENT or settings.METRICS_TOKEN:
        return []
    return [
        Warning(
            "/metrics is served without METRICS_TOKEN.",
            hint="Set METRICS_TOKEN and give Prometheus `Authorization: Bearer <token>`; "
            "without it, any local caller may read the figures (behind a proxy on this host, "
            "also set PROXY_ADDRESSES).",
            id="pitboss.W001",
        )
    ]
