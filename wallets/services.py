"""Writes of the wallets app that are not money movements (those live in wallets.ledger).

Every staff action that changes a provider's status, a credential, a player's status or a
session writes an AuditRecord (who, what, when, why, before/after) in the same transaction.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from wallets import crypto, ledger
from wallets.choices import PlayerStatus, ProviderStatus, SessionEndReason, SessionStatus
from wallets.currencies import is_known
from wallets.errors import NotAllowed, ValidationFailed
from wallets.models import AuditRecord, GameSession, Player, Provider, ProviderCredential

SYSTEM = "system"


def record_audit(
    *,
    actor,
    action: str,
    target,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
    actor_label: str | None = None,
) -> AuditRecord:
    """Append an audit record. `actor` is a user or None (then `actor_label` says who acted)."""
    label = actor_label or (actor.get_username() if actor is not None else SYSTEM)
    return AuditRecord.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=label,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:200],
        reason=reason,
        before=before or {},
        after=after or {},
    )


# --- providers ------------------------------------------------------------------------------


def _check_currencies(currencies: list[str]) -> list[str]:
    unknown = [c for c in currencies if not is_known(c)]
    if unknown:
        raise ValidationFailed(f"unknown currencies: {', '.join(unknown)}", field="currencies")
    return sorted(set(currencies))


def _issue_credential(provider: Provider, expires_at=None) -> str:
    secret = crypto.new_provider_secret()
    ProviderCredential.objects.create(
        provider=provider,
        secret_ciphertext=crypto.encrypt_secret(secret),
        fingerprint=crypto.secret_fingerprint(secret),
        expires_at=expires_at,
    )
    return secret


def create_provider(
    *, code: str, name: str, currencies: list[str], actor=None, **provider_settings
) -> tuple[Provider, str]:
    """Create a provider with its first HMAC secret. The secret is returned here only."""
    if Provider.objects.filter(code=code).exists():
        raise ValidationFailed(f"provider {code} already exists", field="code")
    with transaction.atomic():
        provider = Provider.objects.create(
            code=code, name=name, currencies=_check_currencies(currencies), **provider_settings
        )
        secret = _issue_credential(provider)
        record_audit(
            actor=actor,
            action="provider.create",
            target=provider,
            after={"code": code, "name": name, "currencies": provider.currencies},
        )
    return provider, secret


def rotate_provider_secret(*, provider: Provider, actor=None, reason: str = "") -> str:
    """Issue a new secret; the current ones keep working for the rotation overlap window
    (CREDENTIAL_ROTATION_OVERLAP_SECONDS) so the provider can switch without failed calls."""
    with transaction.atomic():
        overlap_end = timezone.now() + timedelta(
            seconds=settings.CREDENTIAL_ROTATION_OVERLAP_SECONDS
        )
        old = ProviderCredential.objects.select_for_update().filter(
            provider=provider, revoked_at__isnull=True
        )
        retiring = [c.fingerprint for c in old]
        for credential in old:
            if credential.expires_at is None or credential.expires_at > overlap_end:
                credential.expires_at = overlap_end
                credential.save(update_fields=["expires_at"])
        secret = _issue_credential(provider)
        record_audit(
            actor=actor,
            action="provider.rotate_secret",
            target=provider,
            reason=reason,
            before={"credentials": retiring},
            after={
                "new_credential": crypto.secret_fingerprint(secret),
                "old_expire_at": overlap_end.isoformat(),
            },
        )
    return secret


def change_provider_status(
    *,
    provider: Provider,
    status: str,
    reason: str,
    actor=None,
    actor_label: str | None = None,
    kill_open_sessions: bool = False,
) -> Provider:
    """Restrict (no new sessions), suspend (no new sessions, no bets; wins, rollbacks and round
    closes still accepted) or restore a provider, with a reason, audited. Suspension may also
    kill the provider's open sessions, releasing their reservations."""
    if status not in ProviderStatus.values:
        raise ValidationFailed(f"unknown status {status!r}", field="status")
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        provider = Provider.objects.select_for_update().get(pk=provider.pk)
        before = {"status": provider.status, "reason": provider.status_reason}
        if provider.status == status:
            raise NotAllowed(f"provider is already {status}")
        provider.status = status
        provider.status_reason = reason.strip()[:500]
        provider.status_changed_at = timezone.now()
        provider.save(update_fields=["status", "status_reason", "status_changed_at"])
        record_audit(
            actor=actor,
            actor_label=actor_label,
            action="provider.status",
            target=provider,
            reason=reason,
            before=before,
            after={"status": status, "kill_open_sessions": kill_open_sessions},
        )
    if kill_open_sessions and status == ProviderStatus.SUSPENDED:
        for session in GameSession.objects.filter(provider=provider, status=SessionStatus.OPEN):
            ledger.end_session(
                session=session,
                status=SessionStatus.KILLED,
                reason=SessionEndReason.PROVIDER_SUSPENSION,
                note=reason,
                actor=actor,
                missing_ok=True,
            )
    return provider


# --- players --------------------------------------------------------------------------------


def create_player(
    *, external_id: str, currency: str, country: str = "", registration_ip: str | None = None
) -> Player:
    """Register a player with an empty wallet in their primary currency."""
    if not is_known(currency):
        raise ValidationFailed(f"unknown currency {currency!r}", field="currency")
    if Player.objects.filter(external_id=external_id).exists():
        raise ValidationFailed(f"player {external_id} already exists", field="external_id")
    with transaction.atomic():
        player = Player.objects.create(
            external_id=external_id,
            currency=currency,
            country=country.upper(),
            registration_ip=registration_ip or None,
        )
        player.wallets.create(currency=currency)
    return player


def set_player_status(*, player: Player, status: str, reason: str, actor) -> Player:
    if status not in PlayerStatus.values:
        raise ValidationFailed(f"unknown status {status!r}", field="status")
    if not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        player = Player.objects.select_for_update().get(pk=player.pk)
        before = {"status": player.status}
        player.status = status
        player.status_reason = reason[:255]
        player.save(update_fields=["status", "status_reason"])
        record_audit(
            actor=actor,
            action="player.status",
            target=player,
            reason=reason,
            before=before,
            after={"status": status},
        )
    return player


# --- sessions -------------------------------------------------------------------------------


def close_session_by_staff(*, session: GameSession, reason: str, actor) -> GameSession:
    """A support agent ends an open session (status `killed`, reason staff), releasing what is
    left of its buy-in; audited. Ending a session that is not open is refused."""
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        before = {"status": session.status, "reserved_minor": session.reserved_minor}
        ended, _ = ledger.end_session(
            session=session,
            status=SessionStatus.KILLED,
            reason=SessionEndReason.STAFF,
            note=reason,
            actor=actor,
        )
        record_audit(
            actor=actor,
            action="session.close",
            target=ended,
            reason=reason,
            before=before,
            after={"status": ended.status, "released_minor": before["reserved_minor"]},
        )
    return ended
