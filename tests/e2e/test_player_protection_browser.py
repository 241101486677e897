"""Player protection in a real browser, each flow as the role that does it: a compliance
officer lowers a daily loss limit (at once) and is refused an increase; a support agent asks
for an increase on the player's behalf (pending until the cooling-off ends); a support agent
gives the player a time-out (open sessions end, bets are refused, the open round's win is
paid). Every step is asserted on the page and in the database, audit record and reason
included. The forms are the admin's own, reached from the player's page."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from protection import services
from protection.models import Exclusion, PlayerLimit
from wallets import ledger
from wallets.choices import SessionEndReason, SessionStatus
from wallets.errors import LimitExceeded
from wallets.models import AuditRecord, GameSession, Player, Provider, Wallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOSS_DAY = {"player__external_id": "demo-player-001", "kind": "loss", "period": "day"}


def _player() -> Player:
    return Player.objects.get(external_id="demo-player-001")


def _limit_audits(player: Player):
    return AuditRecord.objects.filter(
        action="limit.set", target_type="wallets.player", target_id=str(player.pk)
    ).order_by("pk")


def _open_limit_form(admin_ui, player: Player):
    page = admin_ui.open(f"/admin/wallets/player/{player.pk}/change/")
    admin_ui.follow("a.button:has-text('Change a limit')")
    return page


def _submit_limit(page, amount: str, reason: str):
    page.select_option("#id_kind", "loss")
    page.select_option("#id_period", "day")
    page.select_option("#id_currency", "EUR")
    page.fill("#id_amount", amount)
    page.fill("#id_reason", reason)
    with page.expect_navigation():
        page.click("#content form input[type=submit][value=Save]")


def _limit_row(page):
    return page.locator("tr:has(td.field-limit:has-text('loss per day (EUR)'))")


def _with_daily_loss_limit(player: Player, amount_minor: int):
    """What the player chose on the operator's platform before the staff step in."""
    services.set_limit(
        player=player,
        kind="loss",
        period="day",
        currency="EUR",
        amount=amount_minor,
        reason="chosen by the player",
        actor_label="platform",
    )


def test_compliance_lowers_a_loss_limit_at_once_and_may_not_raise_it(admin_ui):
    player = _player()
    _with_daily_loss_limit(player, 200_00)
    officer = get_user_model().objects.get(username="compliance")
    admin_ui.login("compliance")

    page = _open_limit_form(admin_ui, player)
    assert "You may only lower a limit" in page.inner_text("#content")
    _submit_limit(page, "100.00", "Affordability check: income below declared.")
    assert "The limit applies now." in page.inner_text("ul.messagelist")
    row = _limit_row(page)
    assert row.locator("td.field-in_force").inner_text().strip() == "100.00 EUR"
    assert row.locator("td.field-pending").inner_text().strip() == "—"
    admin_ui.screenshot("protection-limit-lowered")

    limit = PlayerLimit.objects.get(**LOSS_DAY)
    assert (limit.amount, limit.pending_amount, limit.pending_from) == (100_00, None, None)
    assert Wallet.objects.get(player=player, currency="EUR").loss_limit_day_minor == 100_00
    audit = _limit_audits(player).last()
    assert audit.actor == officer
    assert audit.reason == "Affordability check: income below declared."
    assert audit.before["amount"] == "200.00 EUR" and audit.after["amount"] == "100.00 EUR"
    audits_before = _limit_audits(player).count()

    # An increase is the player's request, not the officer's: refused, and the page says why.
    page = _open_limit_form(admin_ui, player)
    _submit_limit(page, "150.00", "Player says the limit is too low.")
    assert "you may only lower a limit" in page.inner_text("#content form")
    assert page.input_value("#id_amount") == "150.00"  # the form is shown again, not saved
    admin_ui.screenshot("protection-raise-refused")
    limit.refresh_from_db()
    assert (limit.amount, limit.pending_amount, limit.pending_from) == (100_00, None, None)
    assert Wallet.objects.get(player=player, currency="EUR").loss_limit_day_minor == 100_00
    assert _limit_audits(player).count() == audits_before


def test_support_raises_a_limit_which_waits_for_the_cooling_off(admin_ui):
    player = _player()
    _with_daily_loss_limit(player, 100_00)
    agent = get_user_model().objects.get(username="support")
    admin_ui.login("support")

    page = _open_limit_form(admin_ui, player)
    hours = services.cooling_off_for(player).total_seconds() / 3600
    assert f"An increase or a removal waits {hours:g} hours" in " ".join(
        page.inner_text("#content").split()
    )
    asked = timezone.now()
    _submit_limit(page, "300.00", "Player asked by phone to raise the daily loss limit.")

    limit = PlayerLimit.objects.get(**LOSS_DAY)
    assert (limit.amount, limit.pending_amount) == (100_00, 300_00)
    expected = asked + services.cooling_off_for(player)
    assert abs(limit.pending_from - expected) < datetime.timedelta(seconds=30)
    when = f"{limit.pending_from:%Y-%m-%d %H:%M}"
    assert f"it applies at {when} UTC" in page.inner_text("ul.messagelist")
    row = _limit_row(page)
    assert row.locator("td.field-in_force").inner_text().strip() == "100.00 EUR"
    assert row.locator("td.field-pending").inner_text().strip() == "300.00 EUR"
    assert row.locator("td.field-pending_from").inner_text().strip() != "-"
    admin_ui.screenshot("protection-increase-pending")

    # Nothing else changes yet: the wallet enforces the old limit; the change is audited.
    assert Wallet.objects.get(player=player, currency="EUR").loss_limit_day_minor == 100_00
    assert services.apply_due_limit_changes(player=player) == 0
    audit = _limit_audits(player).last()
    assert audit.actor == agent
    assert audit.reason == "Player asked by phone to raise the daily loss limit."
    assert audit.after["amount"] == "100.00 EUR"
    assert audit.after["pending_amount"] == "300.00 EUR"


def test_support_gives_a_time_out_which_ends_sessions_and_refuses_bets(admin_ui):
    player = _player()
    provider = Provider.objects.get(code="stellar-slots")
    session, _ = ledger.open_session(
        player=player, provider=provider, currency="EUR", game_id="slot-1", buy_in_minor=0
    )
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id="e2e-pp-bet-1",
        round_id="e2e-pp-round",
        amount_minor=10_00,
        currency="EUR",
    )
    balance = Wallet.objects.get(player=player, currency="EUR").balance_minor
    agent = get_user_model().objects.get(username="support")
    admin_ui.login("support")

    page = admin_ui.open(f"/admin/wallets/player/{player.pk}/change/")
    admin_ui.follow("a.button:has-text('Exclude')")
    page.select_option("#id_length", "24h")
    page.fill("#id_reason", "Player asked for a 24 hour break in chat.")
    started = timezone.now()
    with page.expect_navigation():
        page.click("#content form input[type=submit][value=Save]")
    assert "The player is excluded; open sessions were ended." in page.inner_text("ul.messagelist")
    player.refresh_from_db()
    assert f"Excluded until {player.excluded_until:%Y-%m-%d %H:%M} UTC" in page.inner_text(
        "#content"
    )
    assert "Player asked for a 24 hour break in chat." in page.inner_text("#content")
    admin_ui.screenshot("protection-time-out")

    expected = started + datetime.timedelta(hours=24)
    assert abs(player.excluded_until - expected) < datetime.timedelta(seconds=30)
    exclusion = Exclusion.objects.get(player=player)
    assert (exclusion.kind, exclusion.created_by, exclusion.reason) == (
        "timeout",
        agent,
        "Player asked for a 24 hour break in chat.",
    )
    audit = AuditRecord.objects.get(action="player.exclude", target_id=str(player.pk))
    assert audit.actor == agent and audit.reason == "Player asked for a 24 hour break in chat."
    assert audit.after["kind"] == "timeout"
    session.refresh_from_db()
    assert session.status == SessionStatus.KILLED
    assert session.end_reason == SessionEndReason.PLAYER_PROTECTION
    assert not GameSession.objects.filter(player=player, status=SessionStatus.OPEN).exists()

    # The win of the round that was open is still paid, into the ended session.
    ledger.win(
        provider=provider,
        session=session,
        transaction_id="e2e-pp-win-1",
        round_id="e2e-pp-round",
        amount_minor=30_00,
        currency="EUR",
    )
    assert Wallet.objects.get(player=player, currency="EUR").balance_minor == balance + 30_00

    # The ledger refuses the player's bets, even on a session reopened by some other path.
    GameSession.objects.filter(pk=session.pk).update(status=SessionStatus.OPEN)
    session.refresh_from_db()
    with pytest.raises(LimitExceeded) as refused:
        ledger.bet(
            provider=provider,
            session=session,
            transaction_id="e2e-pp-bet-2",
            round_id="e2e-pp-round-2",
            amount_minor=5_00,
            currency="EUR",
        )
    assert refused.value.code == "LIMIT_EXCEEDED"
    assert "excluded from play and deposits until" in refused.value.message
    with pytest.raises(LimitExceeded):
        ledger.open_session(
            player=player, provider=provider, currency="EUR", game_id="slot-1", buy_in_minor=0
        )
