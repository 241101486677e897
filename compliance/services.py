"""Writes of the compliance app: violations, the request inspector and call observer (installed
through wallets.hooks), the credential checks and the policy's automatic status changes.

Provider status changes go through wallets.services.change_provider_status (audited, actor
"policy:security"); this app never changes balances.
"""

import ipaddress
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from compliance import counters, detection, policies, selectors
from compliance.choices import SEVERITY, ViolationKind
from compliance.models import SecurityViolation
from wallets import services as wallet_services
from wallets.choices import ProviderStatus
from wallets.errors import WalletError
from wallets.hooks import CallObservation, InspectedRequest
from wallets.models import Provider, ProviderCredential

logger = logging.getLogger(__name__)

POLICY_ACTOR = "policy:security"
SIGNATURE_FAILURE_OUTCOMES = frozenset({"INVALID_SIGNATURE", "SIGNATURE_EXPIRED"})
WATCHED_OUTCOMES = SIGNATURE_FAILURE_OUTCOMES | {"IP_NOT_ALLOWED"}
# A credential violation is recorded again at most once a day while it lasts.
CREDENTIAL_REPEAT = timedelta(hours=24)


def _valid_ip(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def record_violation(
    *,
    provider_id: int,
    kind: str,
    evidence: dict,
    request_id: str = "",
    client_ip: str | None = None,
    gate: bool = True,
) -> SecurityViolation | None:
    """Record a violation (evidence must already be redacted). With `gate`, at most one row
    per provider and kind per minute: a repeat is counted on that row (occurrences, folded by
    the evaluation job) and None is returned. Never raises for a database failure: the wallet
    call that found it must not fail because of it (logged, without evidence)."""
    if gate:
        allowed, existing = counters.claim(provider_id, kind)
        if not allowed:
            if existing:
                counters.count_repeat(existing)
            return None
    try:
        with transaction.atomic():
            violation = SecurityViolation.objects.create(
                provider_id=provider_id,
                kind=kind,
                severity=SEVERITY[kind],
                evidence=evidence,
                occurred_at=timezone.now(),
                request_id=(request_id or "")[:64],
                client_ip=_valid_ip(client_ip),
            )
    except DatabaseError:
        if gate:
            counters.release(provider_id, kind)
        logger.warning("could not record a %s violation for provider %s", kind, provider_id)
        return None
    if gate:
        counters.claimed(provider_id, kind, violation.pk)
    logger.info(
        "security violation %s (provider %s, request %s)", kind, provider_id, request_id or "-"
    )
    return violation


# --- the hooks (wallet API hot path) --------------------------------------------------------


def inspect_request(inspection: InspectedRequest) -> None:
    """wallets.hooks request inspector: redact sensitive data in the parsed body (and the
    request id) in place, before the operation stores anything, and record one violation per
    kind found; record plain HTTP when the provider's policy requires TLS. Costs no query
    unless something is found (the policy is cached)."""
    findings = detection.redact_dict(inspection.data, [])
    request_id = inspection.request_id
    # Scanned only when the caller sent it: the wallet's own ids are random hex, where a digit
    # run may pass the Luhn check by chance.
    if (
        request_id
        and inspection.request_id_from_caller
        and detection._MAYBE_CARD.search(request_id)
    ):
        redacted = detection.redact_text(request_id, "header:X-Request-Id", findings, emails=False)
        inspection.request_id = redacted[:64]
    provider_id = inspection.provider.pk
    policy = policies.for_provider(provider_id)
    plain_http = policy.require_tls and not inspection.is_secure
    if not findings and not plain_http:
        return
    try:
        common = {"request_id": inspection.request_id, "client_ip": inspection.client_ip}
        if plain_http:
            record_violation(
                provider_id=provider_id,
                kind=ViolationKind.PLAIN_HTTP,
                evidence={"operation": inspection.operation},
                **common,
            )
        by_kind: dict[str, list[detection.Finding]] = defaultdict(list)
        for finding in findings:
            by_kind[finding.kind].append(finding)
        for kind, found in by_kind.items():
            record_violation(
                provider_id=provider_id,
                kind=kind,
                evidence={
                    "operation": inspection.operation,
                    "count": len(found),
                    "fields": sorted({f.path for f in found}),
                    "redacted_as": [f.masked for f in found][:10],
                },
                **common,
            )
    except Exception:
        logger.exception("recording security violations failed (provider %s)", provider_id)


def observe_call(observation: CallObservation) -> None:
    """wallets.hooks call observer: count signature failures per provider per window (Redis),
    record a violation when the policy's threshold is reached, and record clock skew and calls
    from outside the allowlist. Successful calls return at the first test."""
    if observation.outcome not in WATCHED_OUTCOMES or observation.provider_id is None:
        return
    provider_id = observation.provider_id
    policy = policies.for_provider(provider_id)
    common = {"request_id": observation.request_id, "client_ip": observation.client_ip}
    if observation.outcome in SIGNATURE_FAILURE_OUTCOMES and policy.signature_failure_threshold:
        failures = counters.incr_window(
            "sigfail", provider_id, policy.signature_failure_window_seconds
        )
        if failures == policy.signature_failure_threshold:
            record_violation(
                provider_id=provider_id,
                kind=ViolationKind.SIGNATURE_FAILURES,
                evidence={
                    "failures": failures,
                    "window_seconds": policy.signature_failure_window_seconds,
                    "last_outcome": observation.outcome,
                },
                **common,
            )
    if observation.outcome == "SIGNATURE_EXPIRED":
        record_violation(
            provider_id=provider_id,
            kind=ViolationKind.CLOCK_SKEW,
            evidence={"operation": observation.operation},
            **common,
        )
    elif observation.outcome == "IP_NOT_ALLOWED":
        record_violation(
            provider_id=provider_id,
            kind=ViolationKind.IP_NOT_ALLOWED,
            evidence={"operation": observation.operation, "client_ip": observation.client_ip},
            **common,
        )


def credential_lifetime(provider) -> timedelta | None:
    """wallets.hooks.credential_lifetime: new credentials expire after the policy's maximum
    lifetime when the policy says so (issue_with_expiry)."""
    policy = policies.for_provider(provider.pk)
    return policy.max_credential_lifetime if policy.issue_with_expiry else None


# --- the periodic job -----------------------------------------------------------------------


def check_credentials(now=None) -> int:
    """Record a violation for each usable (unrevoked, unexpired) credential older than its
    provider's maximum lifetime or without expiry; once a day per credential and kind while it
    lasts. Returns how many were recorded."""
    now = now or timezone.now()
    usable = ProviderCredential.objects.filter(revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    recent = {
        (v.provider_id, v.kind, (v.evidence or {}).get("fingerprint"))
        for v in SecurityViolation.objects.filter(
            kind__in=[ViolationKind.CREDENTIAL_TOO_OLD, ViolationKind.CREDENTIAL_NO_EXPIRY],
            occurred_at__gte=now - CREDENTIAL_REPEAT,
        ).only("provider_id", "kind", "evidence")
    }
    recorded = 0
    for credential in usable.only(
        "pk", "provider_id", "kind", "fingerprint", "created_at", "expires_at"
    ).iterator():
        policy = policies.for_provider(credential.provider_id)
        age = now - credential.created_at
        checks = []
        if age > policy.max_credential_lifetime:
            checks.append(ViolationKind.CREDENTIAL_TOO_OLD)
        if credential.expires_at is None:
            checks.append(ViolationKind.CREDENTIAL_NO_EXPIRY)
        for kind in checks:
            if (credential.provider_id, kind, credential.fingerprint) in recent:
                continue
            evidence = {
                "fingerprint": credential.fingerprint,
                "credential_kind": credential.kind,
                "age_days": age.days,
                "max_lifetime_days": policy.max_credential_lifetime_days,
                "expires_at": credential.expires_at.isoformat() if credential.expires_at else None,
            }
            if record_violation(
                provider_id=credential.provider_id, kind=kind, evidence=evidence, gate=False
            ):
                recorded += 1
    return recorded


def fold_repeats() -> int:
    """Add the repeats counted in Redis to their violations' occurrences."""
    try:
        repeats = counters.take_repeats()
    except Exception:
        logger.warning("compliance: could not read repeat counts from Redis", exc_info=True)
        return 0
    for violation_id, count in repeats.items():
        SecurityViolation.objects.filter(pk=violation_id).update(
            occurrences=F("occurrences") + count
        )
    return sum(repeats.values())


@dataclass
class EvaluationResult:
    credential_violations: int = 0
    repeats_folded: int = 0
    restricted: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)


def apply_policy(now=None) -> tuple[list[str], list[str]]:
    """Restrict or suspend each provider whose violations in its policy window (and since its
    last status change) reached the policy's threshold (suspend first; restrict only an active
    provider). Each change goes
    through change_provider_status with actor "policy:security" and the figures as reason.
    Returns (restricted codes, suspended codes)."""
    counts = selectors.violation_counts(now=now)
    restricted, suspended = [], []
    if not counts:
        return restricted, suspended
    providers = list(Provider.objects.filter(pk__in=counts))
    # Only violations since the provider's last status change count: a provider an officer
    # has just restored is not restricted again for the violations that led to it.
    since = {p.pk: p.status_changed_at for p in providers if p.status_changed_at}
    counts = selectors.violation_counts(now=now, since=since)
    for provider in providers:
        policy = policies.for_provider(provider.pk)
        count = counts.get(provider.pk, 0)
        target = None
        suspend_due = bool(policy.suspend_threshold) and count >= policy.suspend_threshold
        restrict_due = bool(policy.restrict_threshold) and count >= policy.restrict_threshold
        if suspend_due and provider.status != ProviderStatus.SUSPENDED:
            target, threshold = ProviderStatus.SUSPENDED, policy.suspend_threshold
        elif restrict_due and not suspend_due and provider.status == ProviderStatus.ACTIVE:
            target, threshold = ProviderStatus.RESTRICTED, policy.restrict_threshold
        if target is None:
            continue
        reason = (
            f"security policy: {count} violations in {policy.window_minutes} min "
            f"(threshold {threshold} to {'suspend' if target == 'suspended' else 'restrict'})"
        )
        try:
            wallet_services.change_provider_status(
                provider=provider,
                status=target,
                reason=reason,
                actor=None,
                actor_label=POLICY_ACTOR,
                kill_open_sessions=(
                    target == ProviderStatus.SUSPENDED and policy.kill_sessions_on_suspend
                ),
            )
        except WalletError as error:  # changed meanwhile by someone else
            logger.info("policy change of %s skipped: %s", provider.code, error.message)
            continue
        (suspended if target == ProviderStatus.SUSPENDED else restricted).append(provider.code)
        logger.warning("provider %s %s by the security policy: %s", provider.code, target, reason)
    return restricted, suspended


def run_evaluation(now=None) -> EvaluationResult:
    """The compliance job: credential checks, folding of counted repeats, then the policy's
    automatic restrictions and suspensions. Safe to run concurrently with wallet traffic."""
    result = EvaluationResult()
    result.credential_violations = check_credentials(now=now)
    result.repeats_folded = fold_repeats()
    result.restricted, result.suspended = apply_policy(now=now)
    return result


# --- policy edits (compliance officers) -----------------------------------------------------


def save_policy(*, policy, changed: list[str], before: dict, actor, reason: str = ""):
    """Save a global or provider policy row edited by staff and audit the change (who, when,
    fields before/after). The cached effective policies are reloaded."""
    with transaction.atomic():
        policy.save()
        wallet_services.record_audit(
            actor=actor,
            action="compliance.policy",
            target=policy,
            reason=reason,
            before={name: before.get(name) for name in changed},
            after={name: getattr(policy, name) for name in changed},
        )
    policies.invalidate()
    return policy
