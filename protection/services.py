"""Writes of the protection app: set a limit, apply the ones whose cooling-off has ended,
exclude a player, end sessions past their time limit.

What is in force is mirrored, in the same transaction, onto the rows the money path locks
(through wallets.ledger.set_wallet_limits for money limits; Player.excluded_until and
session_limit_minutes for exclusions and the session limit), so the ledger enforces it under
the wallet lock without reading these tables. Every change is audited (who, why, before,
after). Rules:

- A new limit, or a lower one, applies at once (and cancels a pending increase).
- An increase or a removal waits for the cooling-off of the player's country (CoolingOffPeriod,
  else PITBOSS_LIMIT_COOLING_OFF_HOURS, 24 h by default), listed as pending until then;
  `apply_due_limit_changes` (beat job, every minute; also run before the limits are read)
  applies it. Only users allowed to raise limits (the player's own platform, support agents
  relaying the player's request) may ask for one; compliance officers may only lower.
- An exclusion is never shortened or lifted: a new one can only end later. It ends the player's
  open sessions at once.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from protection.choices import MONEY_KINDS, ExclusionKind, LimitKind, LimitPeriod
from protection.models import CoolingOffPeriod, Exclusion, PlayerLimit
from wallets import ledger
from wallets.choices import SessionEndReason, SessionStatus
from wallets.currencies import is_known
from wallets.errors import NotAllowed, ValidationFailed
from wallets.models import GameSession, Player, Wallet
from wallets.money import format_amount
from wallets.services import record_audit

TIMEOUT_SHORTEST = datetime.timedelta(hours=1)
TIMEOUT_LONGEST = datetime.timedelta(weeks=6)
SELF_EXCLUSION_SHORTEST = datetime.timedelta(days=182)  # six months
SESSION_MINUTES_LONGEST = 24 * 60
# A few seconds of slack on the bounds: an `until` computed by a client as "now + 1 hour"
# arrives a moment later.
_SLACK = datetime.timedelta(minutes=1)


class OnlyLowering(NotAllowed):
    """A user who may only lower limits asked for an increase or a removal."""

    code, http_status, default_message = (
        "ONLY_LOWERING",
        403,
        "you may only lower a limit: an increase or a removal is the player's request",
    )


def cooling_off_for(player: Player) -> datetime.timedelta:
    """The cooling-off period of the player's country (the default where none is set)."""
    hours = (
        CoolingOffPeriod.objects.filter(country=player.country.upper())
        .values_list("hours", flat=True)
        .first()
    )
    if hours is None:
        hours = settings.PITBOSS_LIMIT_COOLING_OFF_HOURS
    return datetime.timedelta(hours=hours)


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    return reason.strip()[:1000]


def _describe(limit: PlayerLimit | None) -> dict:
    if limit is None:
        return {}

    def show(value):
        if value is None:
            return None
        if limit.kind == LimitKind.SESSION:
            return f"{value} min"
        return f"{format_amount(value, limit.currency)} {limit.currency}"

    return {
        "amount": show(limit.amount),
        "effective_from": limit.effective_from.isoformat(),
        "pending_amount": show(limit.pending_amount),
        "pending_from": limit.pending_from.isoformat() if limit.pending_from else None,
    }


@dataclass(frozen=True)
class LimitChange:
    limit: PlayerLimit | None  # None: the limit is gone
    applied_now: bool  # False: pending until the cooling-off ends (or nothing changed)


def set_limit(
    *,
    player: Player,
    kind: str,
    period: str = "",
    currency: str = "",
    amount: int | None,
    reason: str,
    actor=None,
    actor_label: str | None = None,
    may_raise: bool = True,
    now=None,
) -> LimitChange:
    """Set one limit of `player`: `amount` in minor units of `currency` per `period` for a
    deposit, loss or wager limit, or minutes for the session limit (kind `session`, no period
    or currency); None removes it.

    A new or lower limit applies at once and cancels a pending change; an increase or a
    removal waits for the cooling-off of the player's country (OnlyLowering when `may_raise`
    is False). Setting the amount in force again cancels a pending change. The player row is
    locked, so concurrent changes of one player apply one after the other; the wallet row of
    `currency` is updated under its lock in the same transaction. Audited."""
    reason = _reason(reason)
    now = now or timezone.now()
    kind, period, currency = _validated_key(kind, period, currency)
    if amount is not None and (not isinstance(amount, int) or amount < 0):
        raise ValidationFailed("a limit must be zero or more", field="amount")
    if (
        kind == LimitKind.SESSION
        and amount is not None
        and not 1 <= amount <= SESSION_MINUTES_LONGEST
    ):
        raise ValidationFailed(
            f"a session limit is 1 to {SESSION_MINUTES_LONGEST} minutes", field="session_minutes"
        )
    with transaction.atomic():
        player = Player.objects.select_for_update(no_key=True).get(pk=player.pk)
        _apply_due(player, now)
        limit = PlayerLimit.objects.filter(
            player=player, kind=kind, period=period, currency=currency
        ).first()
        before = _describe(limit)
        in_force = limit.amount if limit else None
        applied_now = False
        if amount is not None and (in_force is None or amount < in_force):
            # Stricter (or new): at once.
            if limit is None:
                limit = PlayerLimit(player=player, kind=kind, period=period, currency=currency)
            limit.amount = amount
            limit.effective_from = now
            limit.pending_amount = None
            limit.pending_from = None
            limit.save()
            applied_now = True
        elif amount == in_force:
            if limit is None or limit.pending_from is None:
                raise NotAllowed("this limit is already in force, with no change pending")
            limit.pending_amount = None
            limit.pending_from = None
            limit.save()
        else:
            if not may_raise:
                raise OnlyLowering()
            limit.pending_amount = amount
            limit.pending_from = now + cooling_off_for(player)
            limit.save()
        record_audit(
            actor=actor,
            actor_label=actor_label,
            action="limit.set",
            target=player,
            reason=reason,
            before={"limit": _key_label(kind, period, currency), **before},
            after={
                "limit": _key_label(kind, period, currency),
                "requested": amount,
                **_describe(limit),
            },
        )
        if applied_now:
            _mirror(player, kind, currency)
    return LimitChange(limit=limit, applied_now=applied_now)


def _validated_key(kind: str, period: str, currency: str) -> tuple[str, str, str]:
    if kind not in LimitKind.values:
        raise ValidationFailed(f"kind must be one of {', '.join(LimitKind.values)}", field="kind")
    if kind == LimitKind.SESSION:
        return kind, "", ""
    if period not in LimitPeriod.values:
        raise ValidationFailed(
            f"period must be one of {', '.join(LimitPeriod.values)}", field="period"
        )
    if not is_known(currency):
        raise ValidationFailed("unknown currency", field="currency")
    return kind, period, currency


def _key_label(kind: str, period: str, currency: str) -> str:
    return "session" if kind == LimitKind.SESSION else f"{kind}/{period} {currency}"


def _mirror(player: Player, kind: str, currency: str) -> None:
    """Write what is in force for `kind` (and `currency`) onto the rows the money path reads."""
    if kind == LimitKind.SESSION:
        minutes = (
            PlayerLimit.objects.filter(player=player, kind=LimitKind.SESSION)
            .values_list("amount", flat=True)
            .first()
        )
        Player.objects.filter(pk=player.pk).update(session_limit_minutes=minutes)
        return
    in_force = {
        (limit.kind, limit.period): limit.amount
        for limit in PlayerLimit.objects.filter(
            player=player, currency=currency, kind__in=MONEY_KINDS
        )
    }
    wallet, _ = Wallet.objects.get_or_create(player=player, currency=currency)
    ledger.set_wallet_limits(wallet=wallet, limits=in_force)


def _apply_due(player: Player, now) -> int:
    """Apply the player's changes whose cooling-off has ended; the number applied. The caller
    holds the player's row lock."""
    due = list(PlayerLimit.objects.filter(player=player, pending_from__lte=now).select_for_update())
    for limit in due:
        before = _describe(limit)
        label = _key_label(limit.kind, limit.period, limit.currency)
        if limit.pending_amount is None:
            limit.delete()
            after = {"limit": label, "removed": True}
        else:
            limit.amount = limit.pending_amount
            limit.effective_from = limit.pending_from
            limit.pending_amount = None
            limit.pending_from = None
            limit.save()
            after = {"limit": label, **_describe(limit)}
        record_audit(
            actor=None,
            actor_label="system",
            action="limit.cooling_off_ended",
            target=player,
            reason="the cooling-off period ended",
            before={"limit": label, **before},
            after=after,
        )
        _mirror(player, limit.kind, limit.currency)
    return len(due)


def apply_due_limit_changes(*, player: Player | None = None, now=None) -> int:
    """Apply every pending increase or removal whose cooling-off has ended (of one player, or
    of all); the number applied. Idempotent; two copies running at once apply each once (the
    player row is locked and the pending change re-read under it)."""
    now = now or timezone.now()
    players = (
        [player.pk]
        if player is not None
        else list(
            PlayerLimit.objects.filter(pending_from__lte=now)
            .values_list("player_id", flat=True)
            .distinct()
        )
    )
    applied = 0
    for player_id in players:
        with transaction.atomic():
            locked = Player.objects.select_for_update(no_key=True).get(pk=player_id)
            applied += _apply_due(locked, now)
    return applied


def exclude_player(
    *,
    player: Player,
    kind: str,
    until: datetime.datetime | None,
    reason: str,
    actor=None,
    actor_label: str | None = None,
    now=None,
) -> Exclusion:
    """Exclude a player: a time-out (1 hour to 6 weeks) or a self-exclusion (6 months or more;
    `until` None: permanent). From now on bets, deposits and game launches are refused
    LIMIT_EXCEEDED (wins and rollbacks are always paid); the player's open sessions end now,
    their buy-ins released. An exclusion is never shortened: the player stays excluded until
    the latest end of any of their exclusions. Audited."""
    reason = _reason(reason)
    now = now or timezone.now()
    if kind not in ExclusionKind.values:
        raise ValidationFailed(
            f"kind must be one of {', '.join(ExclusionKind.values)}", field="kind"
        )
    if until is not None and timezone.is_naive(until):
        raise ValidationFailed("until needs a time zone (e.g. Z)", field="until")
    if kind == ExclusionKind.TIMEOUT:
        if until is None:
            raise ValidationFailed("a time-out needs an end (until)", field="until")
        if not TIMEOUT_SHORTEST - _SLACK <= until - now <= TIMEOUT_LONGEST + _SLACK:
            raise ValidationFailed("a time-out lasts from 1 hour to 6 weeks", field="until")
    elif until is not None:
        if until - now < SELF_EXCLUSION_SHORTEST - _SLACK:
            raise ValidationFailed(
                "a self-exclusion lasts at least 6 months (until empty: permanent)",
                field="until",
            )
        if until >= ledger.PERMANENT:
            until = None
    with transaction.atomic():
        player = Player.objects.select_for_update(no_key=True).get(pk=player.pk)
        before = {"excluded_until": _iso(player.excluded_until)}
        exclusion = Exclusion.objects.create(
            player=player,
            kind=kind,
            starts_at=now,
            until=until,
            reason=reason,
            created_by=actor if actor is not None and actor.pk else None,
            created_by_label=actor_label or (actor.get_username() if actor else "system"),
        )
        ends = ledger.PERMANENT if until is None else until
        current = player.excluded_until
        if current is None or current <= now or ends > current:
            player.excluded_until = ends
            Player.objects.filter(pk=player.pk).update(excluded_until=ends)
        record_audit(
            actor=actor,
            actor_label=actor_label,
            action="player.exclude",
            target=player,
            reason=reason,
            before=before,
            after={
                "kind": kind,
                "until": _iso(until) or "permanent",
                "excluded_until": _iso(player.excluded_until),
            },
        )
    end_open_sessions(player=player, note=f"{kind}: {reason}", actor=actor)
    return exclusion


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def end_open_sessions(*, player: Player, note: str, actor=None) -> int:
    """End the player's open game sessions (killed, for player protection), releasing what
    is left of their buy-ins; the number ended."""
    ended = 0
    for session in GameSession.objects.filter(player=player, status=SessionStatus.OPEN):
        _, changed = ledger.end_session(
            session=session,
            status=SessionStatus.KILLED,
            reason=SessionEndReason.PLAYER_PROTECTION,
            note=note,
            actor=actor,
            missing_ok=True,
        )
        ended += changed
    return ended


def end_sessions_past_time_limit(*, now=None) -> int:
    """End every open session played longer than its player's session-time limit (its bets are
    refused already; this releases its buy-in and tells support). The number ended."""
    now = now or timezone.now()
    ended = 0
    sessions = GameSession.objects.filter(
        status=SessionStatus.OPEN, player__session_limit_minutes__isnull=False
    ).select_related("player")
    for session in sessions.iterator():
        limit = datetime.timedelta(minutes=session.player.session_limit_minutes)
        if session.created_at + limit <= now:
            _, changed = ledger.end_session(
                session=session,
                status=SessionStatus.KILLED,
                reason=SessionEndReason.PLAYER_PROTECTION,
                note=f"session time limit of {session.player.session_limit_minutes} minutes",
                missing_ok=True,
            )
            ended += changed
    return ended
