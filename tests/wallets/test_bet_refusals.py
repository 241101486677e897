"""A refused bet's transaction id keeps its refusal.

The contract has a provider retry 5xx answers and timeouts with the identical payload and never
retry a 4xx: a refusal is its final answer for that id. When a retry is refused while the first
attempt is still on its way (delayed by the network or a busy server) and that first attempt
arrives after the reason went away (the provider restored, money deposited), booking it would
debit a bet the provider believes refused: the player pays for a round that was never played.
Found by the seeded money simulation (simulator/soak.py: seeds 60, 70 and 134 of the first
200-seed run, a retried bet after a client timeout). The ledger now remembers the refusal under
the bet's idempotency key and answers every later delivery of that id the same way.
"""

import pytest

from tests import factories
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import hooks, ledger
from wallets.choices import ProviderStatus
from wallets.errors import DuplicateMismatch, InsufficientFunds, ProviderSuspended
from wallets.models import BetRefusal, Provider, Transaction, Wallet


@pytest.fixture(autouse=True)
def quiet_hooks(db):
    saved = (hooks.screener, list(hooks.ledger_listeners))
    hooks.screener = None
    hooks.ledger_listeners[:] = []
    try:
        yield
    finally:
        hooks.screener = saved[0]
        hooks.ledger_listeners[:] = saved[1]
        assert_ledger_invariant()


@pytest.fixture
def setting():
    player = factories.funded_player(100_00)
    provider = factories.make_provider()[0]
    session, _ = ledger.open_session(player=player, provider=provider, currency="EUR")
    return player, provider, session


def _bet(provider, session, amount_minor=10_00, transaction_id="b-1", round_id="r-1"):
    return ledger.bet(
        provider=Provider.objects.get(pk=provider.pk),
        session=session,
        transaction_id=transaction_id,
        round_id=round_id,
        amount_minor=amount_minor,
        currency="EUR",
    )


def _state(player):
    wallet = Wallet.objects.get(player=player, currency="EUR")
    return (
        wallet.balance_minor,
        wallet.reserved_minor,
        Transaction.objects.filter(player=player).count(),
    )


def test_a_first_attempt_arriving_after_its_refused_retry_is_refused_too(setting):
    player, provider, session = setting
    Provider.objects.filter(pk=provider.pk).update(status=ProviderStatus.SUSPENDED)
    with pytest.raises(ProviderSuspended):
        _bet(provider, session)  # the retry, answered 403: final for the provider
    before = _state(player)
    Provider.objects.filter(pk=provider.pk).update(status=ProviderStatus.ACTIVE)

    with pytest.raises(ProviderSuspended) as late:
        _bet(provider, session)  # the first attempt, delivered late: not booked

    assert "refused before" in str(late.value)
    assert _state(player) == before
    assert BetRefusal.objects.filter(external_id="b-1").count() == 1
    # A new id plays as usual.
    _bet(provider, session, transaction_id="b-2")
    assert _state(player)[0] == 90_00


def test_a_bet_refused_for_funds_stays_refused_after_a_deposit(setting):
    player, provider, session = setting
    with pytest.raises(InsufficientFunds):
        _bet(provider, session, amount_minor=150_00)
    ledger.deposit(player=player, currency="EUR", amount_minor=100_00, external_id="dep-1")
    before = _state(player)

    with pytest.raises(InsufficientFunds):
        _bet(provider, session, amount_minor=150_00)

    assert _state(player) == before


def test_another_payload_under_a_refused_id_is_a_new_call(setting):
    """Only the refused payload keeps its refusal: the id with another payload is judged anew
    (booked here), and the refused payload arriving late then meets a booked bet with another
    amount: DUPLICATE_MISMATCH, not booked either."""
    player, provider, session = setting
    with pytest.raises(InsufficientFunds):
        _bet(provider, session, amount_minor=150_00)
    _bet(provider, session, amount_minor=5_00)
    assert _state(player)[0] == 95_00
    with pytest.raises(DuplicateMismatch) as mismatch:
        _bet(provider, session, amount_minor=150_00)
    assert "amount_minor" in str(mismatch.value)
    assert _state(player)[0] == 95_00
