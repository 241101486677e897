"""What protocols need of sessions: a token renewed on each check, and the session a protocol
that names the player (not a token) books against."""

import pytest

from tests import factories
from wallets import crypto, ledger, selectors, services
from wallets.choices import SessionEndReason, SessionStatus
from wallets.errors import NotAllowed
from wallets.models import GameSession

pytestmark = pytest.mark.django_db


def test_a_reissued_token_replaces_the_old_one_at_once():
    provider, _ = factories.make_provider()
    session, old = factories.open_session(factories.funded_player(), provider)
    new = services.reissue_session_token(session_pk=session.pk)
    assert new != old
    assert selectors.live_session(provider.pk, crypto.token_hash(old)) is None
    found, _ = selectors.live_session(provider.pk, crypto.token_hash(new))
    assert found.pk == session.pk


def test_an_ended_session_gets_no_new_token():
    provider, _ = factories.make_provider()
    session, _ = factories.open_session(factories.funded_player(), provider)
    ledger.end_session(session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF)
    with pytest.raises(NotAllowed):
        services.reissue_session_token(session_pk=session.pk)


def test_the_players_session_is_the_newest_open_one_else_the_newest():
    provider, _ = factories.make_provider(max_sessions_per_player=5)
    player = factories.funded_player()
    first, _ = factories.open_session(player, provider)
    second, _ = factories.open_session(player, provider)
    yen, _ = factories.open_session(player, provider, currency="JPY")
    assert selectors.player_session(provider.pk, player.external_id).pk == yen.pk
    assert selectors.player_session(provider.pk, player.external_id, currency="EUR").pk == second.pk
    for session in (second, yen):
        ledger.end_session(
            session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF
        )
    assert selectors.player_session(provider.pk, player.external_id, currency="EUR").pk == first.pk
    ledger.end_session(session=first, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF)
    ended = selectors.player_session(provider.pk, player.external_id, currency="EUR")
    assert ended.pk == second.pk and ended.status == SessionStatus.CLOSED
    assert selectors.player_session(provider.pk, "nobody") is None
    other, _ = factories.make_provider()
    assert selectors.player_session(other.pk, player.external_id) is None
    assert GameSession.objects.count() == 3
