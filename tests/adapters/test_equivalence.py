"""Every protocol lands in the same ledger: any sequence of a protocol's calls, with retries
and reorderings, leaves the same balance and the same ledger rows as the native API given the
same money movements (hypothesis). Each example plays twin players, one through the protocol,
one through the native API."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.protocols import kits
from simulator.protocols.base import Seat
from simulator.protocols.native import NativeClient
from tests import factories
from tests.adapters.conftest import DjangoTransport
from tests.adapters.test_hub88 import KEYS
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import services
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db
_players = itertools.count(1)

# One round: its stake, how it ends (a win of an amount, a rollback, or left open), how many
# times each call is delivered, and whether the rollback overtakes its bet.
rounds = st.tuples(
    st.integers(min_value=1, max_value=40_00),
    st.sampled_from(["win", "rollback", "open"]),
    st.integers(min_value=0, max_value=90_00),
    st.integers(min_value=1, max_value=3),
    st.booleans(),
)


def credential_for(protocol: str) -> tuple[dict, str]:
    """(create_provider arguments, what the client signs with) for a new provider."""
    if protocol == "hub88":
        return {"public_key": KEYS[1]}, KEYS[0]
    return {}, None


def make(protocol: str):
    extra, credential = credential_for(protocol)
    code = f"{protocol}-eq-{next(_players)}"
    provider, secret = services.create_provider(
        code=code, name=code, currencies=["EUR"], protocol=protocol, **extra
    )
    return provider, credential or secret


def seat(provider, funds) -> tuple[Seat, int]:
    player = factories.funded_player(funds)
    _, token = factories.open_session(player, provider)
    return Seat(token, player.external_id, "EUR"), Wallet.objects.get(player=player).pk


def play(client, seat_, plan, tag) -> list[bool]:
    """Deliver the plan; a round's win is sent only when its bet was taken (a win with no bet
    is a free-spin credit in some protocols and an error in others: not the same movement).
    Returns which bets were taken."""
    taken = []
    for n, (stake, ending, win, times, overtaken) in enumerate(plan):
        bet_id, round_id, end_id = f"{tag}b{n}", f"{tag}r{n}", f"{tag}e{n}"
        calls = ["bet"] * times
        if ending == "win":
            calls += ["win"] * times
        elif ending == "rollback":
            calls = ["rollback"] * times + calls if overtaken else calls + ["rollback"] * times
        placed = False
        for call in calls:
            if call == "bet":
                placed = client.bet(seat_, bet_id, round_id, stake).ok or placed
            elif call == "win" and placed:
                client.win(seat_, end_id, round_id, win, bet_txn=bet_id, close=True)
            elif call == "rollback":
                client.rollback(seat_, end_id, bet_id, round_id)
        taken.append(placed)
    return taken


def fingerprint(wallet_pk: int):
    wallet = Wallet.objects.get(pk=wallet_pk)
    rows = sorted(
        Transaction.objects.filter(wallet_id=wallet_pk, provider__isnull=False).values_list(
            "kind", "amount_minor", "status"
        )
    )
    return wallet.balance_minor, wallet.reserved_minor, rows


@pytest.mark.parametrize("protocol", sorted(kits.KITS))
def test_a_protocol_and_the_native_api_agree_on_the_same_money_movements(protocol):
    transport = DjangoTransport()
    native_provider, native_secret = make("native")
    other_provider, other_credential = make(protocol)
    native = NativeClient(transport, native_provider.code, native_secret)
    other = kits.client(protocol, transport, other_provider.code, other_credential)

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(plan=st.lists(rounds, min_size=1, max_size=8), funds=st.integers(0, 120_00))
    def same_outcome(plan, funds):
        native_seat, native_wallet = seat(native_provider, funds)
        other_seat, other_wallet = seat(other_provider, funds)
        taken = play(native, native_seat, plan, f"n{native_wallet}-")
        assert play(other, other_seat, plan, f"o{other_wallet}-") == taken, plan
        assert fingerprint(other_wallet) == fingerprint(native_wallet), plan

    same_outcome()
    assert_ledger_invariant()
