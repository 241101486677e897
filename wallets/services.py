"""Writes of the wallets app that are not money movements (those live in wallets.ledger).

Every staff action that changes a provider's status, a credential, a player's status or a
session writes an AuditRecord (who, what, when, why, before/after) in the same transaction.
"""

import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from wallets import crypto, hooks, ledger
from wallets.choices import (
    CredentialKind,
    OpenRoundPolicy,
    PlayerStatus,
    ProviderProtocol,
    ProviderStatus,
    SessionEndReason,
    SessionStatus,
    TransactionKind,
    TransactionStatus,
)
from wallets.currencies import is_known
from wallets.errors import NotAllowed, ValidationFailed
from wallets.models import (
    AuditRecord,
    GameSession,
    Player,
    Provider,
    ProviderCredential,
    Round,
    SessionCleanupRun,
    SessionCleanupStat,
    Transaction,
    Wallet,
)

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


# --- staff API tokens -----------------------------------------------------------------------


def issue_own_api_token(*, user, reason: str = "") -> str:
    """A new back-office API token for `user`, replacing theirs if they had one (the old key
    stops working at once). Returns the key, which is never stored anywhere else nor audited:
    the caller shows it once. Audited as `api_token.create` or `api_token.rotate`."""
    from rest_framework.authtoken.models import Token

    with transaction.atomic():
        # Serialise two clicks of the same user: one token per user, the last one wins.
        get_user_model().objects.select_for_update().get(pk=user.pk)
        old = Token.objects.filter(user=user).first()
        if old is not None:
            old.delete()
        token = Token.objects.create(user=user)
        record_audit(
            actor=user,
            action="api_token.rotate" if old is not None else "api_token.create",
            target=user,
            reason=reason.strip(),
            before={"token": "yes", "created": old.created.isoformat()} if old else {"token": "no"},
            after={"token": "yes", "created": token.created.isoformat()},
        )
    return token.key


# --- providers ------------------------------------------------------------------------------


def _check_currencies(currencies: list[str]) -> list[str]:
    unknown = [c for c in currencies if not is_known(c)]
    if unknown:
        raise ValidationFailed(f"unknown currencies: {', '.join(unknown)}", field="currencies")
    return sorted(set(currencies))


def _default_expiry(provider: Provider):
    """The expiry a newly issued credential gets: the compliance policy's lifetime (through
    wallets.hooks.credential_lifetime), or none when nothing is registered."""
    if hooks.credential_lifetime is None:
        return None
    lifetime = hooks.credential_lifetime(provider)
    return timezone.now() + lifetime if lifetime else None


def _issue_credential(provider: Provider, expires_at=None) -> str:
    if expires_at is None:
        expires_at = _default_expiry(provider)
    secret = crypto.new_provider_secret()
    ProviderCredential.objects.create(
        provider=provider,
        secret_ciphertext=crypto.encrypt_secret(secret),
        fingerprint=crypto.secret_fingerprint(secret),
        expires_at=expires_at,
    )
    return secret


def _check_protocol(protocol: str, options) -> dict:
    from wallets.adapters.registry import adapter_for

    adapter = adapter_for(protocol)
    if adapter is None:
        raise ValidationFailed(
            f"unknown protocol {protocol!r}; known: {', '.join(ProviderProtocol.values)}",
            field="protocol",
        )
    try:
        return adapter.validate_options(options)
    except ValueError as error:
        raise ValidationFailed(str(error), field="protocol_options") from None


def create_provider(
    *,
    code: str,
    name: str,
    currencies: list[str],
    actor=None,
    protocol: str = ProviderProtocol.NATIVE,
    protocol_options: dict | None = None,
    public_key: str = "",
    **provider_settings,
) -> tuple[Provider, str | None]:
    """Create a provider speaking `protocol`, with its first credential. Protocols signing with
    a shared secret (the native API's HMAC key, Evolution's authToken, Pragmatic's hash key,
    SoftSwiss's signing token) get a new secret, returned here only; Hub88 signs with its own
    RSA key: `public_key` (PEM) is required, and no secret is returned (None)."""
    taken = ValidationFailed(f"provider {code} already exists", field="code")
    options = _check_protocol(protocol, protocol_options)
    rsa_pem = None
    if protocol == ProviderProtocol.HUB88:
        rsa_pem = _rsa_key_or_error(public_key)
    elif public_key:
        raise ValidationFailed(
            "public_key is for hub88 providers (native providers add an Ed25519 key as a "
            "credential)",
            field="public_key",
        )
    if Provider.objects.filter(code=code).exists():
        raise taken
    with transaction.atomic():
        try:
            # A savepoint: a concurrent create of the same code loses here, as a 400, not a 500.
            with transaction.atomic():
                provider = Provider.objects.create(
                    code=code,
                    name=name,
                    currencies=_check_currencies(currencies),
                    protocol=protocol,
                    protocol_options=options,
                    **provider_settings,
                )
        except IntegrityError:
            raise taken from None
        secret = None
        if rsa_pem is None:
            secret = _issue_credential(provider)
        else:
            _store_public_key(provider, CredentialKind.RSA, rsa_pem, _default_expiry(provider))
        record_audit(
            actor=actor,
            action="provider.create",
            target=provider,
            after={
                "code": code,
                "name": name,
                "currencies": provider.currencies,
                "protocol": protocol,
                "protocol_options": options,
            },
        )
    return provider, secret


def _rsa_key_or_error(public_key: str) -> str:
    from wallets.adapters.credentials import parse_rsa_public_key

    if not (public_key or "").strip():
        raise ValidationFailed(
            "a hub88 provider needs its RSA public_key (PEM)", field="public_key"
        )
    try:
        return parse_rsa_public_key(public_key)
    except ValueError as error:
        raise ValidationFailed(f"public_key: {error}", field="public_key") from None


def _store_public_key(provider: Provider, kind: str, key: str, expires_at) -> ProviderCredential:
    fingerprint = (
        crypto.public_key_fingerprint(key)
        if kind == CredentialKind.ED25519
        else crypto.secret_fingerprint(key)
    )
    if ProviderCredential.objects.filter(provider=provider, fingerprint=fingerprint).exists():
        raise NotAllowed("the provider already has this key")
    return ProviderCredential.objects.create(
        provider=provider,
        kind=kind,
        public_key=key,
        fingerprint=fingerprint,
        expires_at=expires_at,
    )


def rotate_provider_secret(*, provider: Provider, actor=None, reason: str = "") -> str:
    """Issue a new secret; the current ones keep working for the rotation overlap window
    (CREDENTIAL_ROTATION_OVERLAP_SECONDS) so the provider can switch without failed calls.
    A provider signing with its own key (Hub88) has no secret: it adds its new key instead."""
    if provider.protocol == ProviderProtocol.HUB88:
        raise NotAllowed(
            "a hub88 provider signs with its own RSA key: add its new public key as a "
            "credential, then revoke the old one"
        )
    with transaction.atomic():
        overlap_end = timezone.now() + timedelta(
            seconds=settings.CREDENTIAL_ROTATION_OVERLAP_SECONDS
        )
        old = ProviderCredential.objects.select_for_update(no_key=True).filter(
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


def add_provider_credential(
    *, provider: Provider, public_key: str, expires_at=None, actor=None, reason: str = ""
) -> ProviderCredential:
    """Register a public key for the provider (the operator stores no secret): Ed25519 for the
    native API, RSA (PEM) for Hub88. It is accepted at once, next to the provider's other
    unexpired, unrevoked credentials, so a provider rotates its key by adding the new one and
    revoking the old. Without `expires_at` the policy's lifetime applies
    (wallets.hooks.credential_lifetime); an expiry in the past, a key of the wrong kind for the
    provider's protocol, or a key the provider already has, is refused. Audited."""
    if provider.protocol == ProviderProtocol.HUB88:
        kind, key = CredentialKind.RSA, _rsa_key_or_error(public_key)
    elif provider.protocol == ProviderProtocol.NATIVE:
        kind = CredentialKind.ED25519
        try:
            key = crypto.parse_ed25519_public_key(public_key)
        except ValueError as error:
            raise ValidationFailed(f"public_key: {error}", field="public_key") from None
    else:
        raise NotAllowed(f"{provider.protocol} providers sign with a shared secret, not a key")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("expires_at must be in the future", field="expires_at")
    if expires_at is None:
        expires_at = _default_expiry(provider)
    with transaction.atomic():
        Provider.objects.select_for_update(no_key=True).get(pk=provider.pk)
        credential = _store_public_key(provider, kind, key, expires_at)
        record_audit(
            actor=actor,
            action="provider.credential_add",
            target=provider,
            reason=reason,
            after={
                "kind": kind,
                "fingerprint": credential.fingerprint,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return credential


def revoke_provider_credential(
    *, provider: Provider, fingerprint: str, reason: str, actor=None
) -> ProviderCredential:
    """Revoke one credential now: the next call signed with it is refused. A reason is
    required; revoking an already revoked credential is refused. Audited."""
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        credential = (
            ProviderCredential.objects.select_for_update(no_key=True)
            .filter(provider=provider, fingerprint=fingerprint)
            .first()
        )
        if credential is None:
            raise ValidationFailed("no such credential", field="fingerprint")
        if credential.revoked_at is not None:
            raise NotAllowed("credential is already revoked")
        credential.revoked_at = timezone.now()
        credential.save(update_fields=["revoked_at"])
        record_audit(
            actor=actor,
            action="provider.credential_revoke",
            target=provider,
            reason=reason.strip(),
            before={"fingerprint": fingerprint, "kind": credential.kind, "revoked_at": None},
            after={"fingerprint": fingerprint, "revoked_at": credential.revoked_at.isoformat()},
        )
    return credential


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
        provider = Provider.objects.select_for_update(no_key=True).get(pk=provider.pk)
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


# --- sessions as protocols see them ---------------------------------------------------------


def reissue_session_token(*, session_pk: int) -> str:
    """A new token for an open session (a protocol that renews the player's token on each
    check): the old token stops working at once, the session, its rounds and its money stay.
    Returns the new token (stored hashed only); NotAllowed when the session is not open."""
    token = crypto.new_session_token()
    updated = GameSession.objects.filter(pk=session_pk, status=SessionStatus.OPEN).update(
        token_hash=crypto.token_hash(token)
    )
    if not updated:
        raise NotAllowed("the session is not open")
    return token


# --- players --------------------------------------------------------------------------------


def create_player(
    *, external_id: str, currency: str, country: str = "", registration_ip: str | None = None
) -> Player:
    """Register a player with an empty wallet in their primary currency."""
    if not is_known(currency):
        raise ValidationFailed(f"unknown currency {currency!r}", field="currency")
    taken = ValidationFailed(f"player {external_id} already exists", field="external_id")
    if Player.objects.filter(external_id=external_id).exists():
        raise taken
    with transaction.atomic():
        try:
            # A savepoint: a concurrent create of the same id loses here, as a 400, not a 500.
            with transaction.atomic():
                player = Player.objects.create(
                    external_id=external_id,
                    currency=currency,
                    country=country.upper(),
                    registration_ip=registration_ip or None,
                )
        except IntegrityError:
            raise taken from None
        player.wallets.create(currency=currency)
    return player


def set_player_status(*, player: Player, status: str, reason: str, actor) -> Player:
    if status not in PlayerStatus.values:
        raise ValidationFailed(f"unknown status {status!r}", field="status")
    if not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    with transaction.atomic():
        player = Player.objects.select_for_update(no_key=True).get(pk=player.pk)
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
        # Read the session under its wallet's lock (the ledger's lock order: wallet, then
        # session), so the audit states what was really released, not a stale figure.
        Wallet.objects.select_for_update(no_key=True).get(pk=session.wallet_id)
        session = GameSession.objects.get(pk=session.pk)
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


# --- idle session cleanup -------------------------------------------------------------------


def run_session_cleanup(
    *,
    batch_size: int = 5000,
    time_budget_seconds: float = 45.0,
    round_limit: int = 1000,
    triggered_by: str = "beat",
) -> SessionCleanupRun:
    """Expire idle sessions, release their reservations and apply each provider's open-round
    policy; record what was done per provider in a SessionCleanupRun.

    Bounded: sessions are ended in set-based batches (never all loaded into memory) until none
    is left or the time budget is spent (the next run continues). Safe to run twice at once:
    concurrent runs skip each other's locked rows and never release a reservation twice.
    """
    started = timezone.now()
    clock = time.monotonic()
    run = SessionCleanupRun.objects.create(started_at=started, triggered_by=triggered_by)
    stats: dict[int, dict] = defaultdict(
        lambda: {
            "sessions_expired": 0,
            "sessions_abandoned": 0,
            "reservations_released": 0,
            "released_minor": defaultdict(int),
            "rounds_refunded": 0,
            "rounds_flagged": 0,
        }
    )
    incomplete = False
    while True:
        batch = ledger.end_idle_sessions(batch_size=batch_size)
        for ended in batch:
            stat = stats[ended.provider_id]
            stat["sessions_expired"] += ended.expired
            stat["sessions_abandoned"] += ended.abandoned
            stat["reservations_released"] += ended.reservations_released
            stat["released_minor"][ended.currency] += ended.released_minor
        ended_now = sum(e.expired + e.abandoned for e in batch)
        if ended_now < batch_size:
            break
        if time.monotonic() - clock > time_budget_seconds:
            incomplete = True
            break
    for provider_id, refunded, flagged in apply_open_round_policy(limit=round_limit):
        stats[provider_id]["rounds_refunded"] += refunded
        stats[provider_id]["rounds_flagged"] += flagged
    SessionCleanupStat.objects.bulk_create(
        SessionCleanupStat(
            run=run,
            provider_id=provider_id,
            **{**stat, "released_minor": dict(stat["released_minor"])},
        )
        for provider_id, stat in stats.items()
    )
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - clock) * 1000)
    run.sessions_ended = sum(
        s["sessions_expired"] + s["sessions_abandoned"] for s in stats.values()
    )
    run.rounds_refunded = sum(s["rounds_refunded"] for s in stats.values())
    run.rounds_flagged = sum(s["rounds_flagged"] for s in stats.values())
    run.incomplete = incomplete
    run.save()
    return run


_OVERDUE_ROUNDS_SQL = """
SELECT r.id, r.provider_id, p.open_round_policy,
       EXISTS (SELECT 1 FROM wallets_transaction t
               WHERE t.round_id = r.id AND t.kind = 'win') AS has_win
FROM wallets_round r
JOIN wallets_gamesession s ON s.id = r.session_id
JOIN wallets_provider p ON p.id = r.provider_id
WHERE r.status = 'open' AND r.flagged_at IS NULL AND r.has_bet
  AND s.status = 'abandoned'
  AND r.opened_at < %(now)s - make_interval(secs => p.round_timeout_seconds)
ORDER BY r.id
LIMIT %(limit)s
"""


def apply_open_round_policy(*, limit: int = 1000) -> list[tuple[int, int, int]]:
    """Open rounds of abandoned sessions that outlived the provider's round timeout:
    `refund` rolls back their stakes through the ledger (a normal rollback, idempotent on a
    wallet-made rollback id), `flag` marks them for support. A round that already paid a win
    is flagged whatever the policy: refunding its stake would pay the player twice.
    Returns (provider_id, rounds_refunded, rounds_flagged) per provider."""
    with connection.cursor() as cursor:
        cursor.execute(_OVERDUE_ROUNDS_SQL, {"now": timezone.now(), "limit": limit})
        overdue = cursor.fetchall()
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    to_flag = []
    for round_id, provider_id, policy, has_win in overdue:
        if policy == OpenRoundPolicy.REFUND and not has_win:
            _refund_round(round_id)
            counts[provider_id][0] += 1
        else:
            to_flag.append((round_id, provider_id))
    if to_flag:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE wallets_round SET flagged_at = %s"
                " WHERE id = ANY(%s) AND flagged_at IS NULL RETURNING provider_id",
                [timezone.now(), [round_id for round_id, _ in to_flag]],
            )
            for (provider_id,) in cursor.fetchall():
                counts[provider_id][1] += 1
    return [(provider_id, refunded, flagged) for provider_id, (refunded, flagged) in counts.items()]


def _refund_round(round_id: int) -> None:
    round_ = Round.objects.select_related("provider", "session").get(pk=round_id)
    bets = Transaction.objects.filter(
        round=round_, kind=TransactionKind.BET, status=TransactionStatus.POSTED
    )
    for bet in bets:
        ledger.rollback(
            provider=round_.provider,
            session=round_.session,
            transaction_id=f"pitboss-refund-{bet.pk}",
            reference_transaction_id=bet.external_id,
            round_id=round_.external_id,
        )
