"""The effective security policy of a provider: its overrides on top of the global row.

Read on the wallet API's hot path (TLS check, signature-failure threshold), so policies are
cached per process and reloaded (two queries for all providers) at most every
POLICY_CACHE_SECONDS, or at once after a policy is saved in this process.
"""

import threading
import time
from dataclasses import dataclass, fields
from datetime import timedelta

from django.conf import settings

from compliance.models import (
    POLICY_BOUNDS,
    POLICY_FIELDS,
    GlobalSecurityPolicy,
    ProviderSecurityPolicy,
)

POLICY_CACHE_SECONDS = 30


@dataclass(frozen=True)
class Policy:
    max_credential_lifetime_days: int
    issue_with_expiry: bool
    require_tls: bool
    signature_failure_threshold: int
    signature_failure_window_seconds: int
    window_minutes: int
    alert_threshold: int
    restrict_threshold: int
    suspend_threshold: int
    kill_sessions_on_suspend: bool

    @property
    def max_credential_lifetime(self) -> timedelta:
        return timedelta(days=self.max_credential_lifetime_days)


def settings_defaults() -> dict:
    """Defaults of the global row when it is first created (COMPLIANCE_* settings)."""
    return {
        "max_credential_lifetime_days": getattr(settings, "COMPLIANCE_MAX_CREDENTIAL_DAYS", 365),
        "issue_with_expiry": getattr(settings, "COMPLIANCE_ISSUE_WITH_EXPIRY", False),
        "require_tls": getattr(settings, "COMPLIANCE_REQUIRE_TLS", False),
    }


def global_policy() -> GlobalSecurityPolicy:
    row = GlobalSecurityPolicy.objects.filter(pk=1).first()
    if row is None:
        row, _ = GlobalSecurityPolicy.objects.get_or_create(pk=1, defaults=settings_defaults())
    return row


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded_at = 0.0
        self.default: Policy | None = None
        self.by_provider: dict[int, Policy] = {}


_cache = _Cache()


def invalidate(*args, **kwargs) -> None:
    _cache.loaded_at = 0.0


def _within_bounds(values: dict) -> dict:
    """A row written before the bounds existed (or past them by hand in SQL) acts at the
    nearest bound instead of overflowing a date."""
    for name, (low, high) in POLICY_BOUNDS.items():
        values[name] = min(max(values[name], low), high)
    return values


def _load() -> None:
    base = global_policy()
    base_values = {name: getattr(base, name) for name in POLICY_FIELDS}
    by_provider = {}
    for override in ProviderSecurityPolicy.objects.all():
        values = dict(base_values)
        for name in POLICY_FIELDS:
            value = getattr(override, name)
            if value is not None:
                values[name] = value
        by_provider[override.provider_id] = Policy(**_within_bounds(values))
    _cache.default = Policy(**_within_bounds(base_values))
    _cache.by_provider = by_provider
    _cache.loaded_at = time.monotonic()


def for_provider(provider_id: int) -> Policy:
    """The provider's effective policy (cached)."""
    if time.monotonic() - _cache.loaded_at > POLICY_CACHE_SECONDS or _cache.default is None:
        with _cache.lock:
            if time.monotonic() - _cache.loaded_at > POLICY_CACHE_SECONDS:
                _load()
    return _cache.by_provider.get(provider_id, _cache.default)


assert [f.name for f in fields(Policy)] == POLICY_FIELDS
