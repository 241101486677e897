"""Each provider protocol reports a player-protection refusal in its own status (the choice is
documented on its integration page), over HTTP, through both ways in."""

import itertools

import pytest

from protection import services as protection
from simulator.protocols import kits
from simulator.protocols.base import Seat
from tests import factories
from tests.adapters.conftest import transport  # noqa: F401 - both ways in
from tests.adapters.test_hub88 import KEYS
from wallets import services
from wallets.adapters import evolution, hub88, pragmatic, softswiss

pytestmark = pytest.mark.django_db
_codes = itertools.count(1)

EXPECTED_STATUS = {
    "native": "LIMIT_EXCEEDED",
    "hub88": hub88.STATUSES["LIMIT_EXCEEDED"],
    "evolution": evolution.STATUSES["LIMIT_EXCEEDED"],
    "pragmatic": str(pragmatic.STATUSES["LIMIT_EXCEEDED"]),
    "softswiss": "{}/{}".format(*softswiss.STATUSES["LIMIT_EXCEEDED"]),
}


def test_the_documented_statuses():
    assert EXPECTED_STATUS == {
        "native": "LIMIT_EXCEEDED",
        "hub88": "RS_ERROR_LIMIT_REACHED",
        "evolution": "FINAL_ERROR_ACTION_FAILED",
        "pragmatic": "50",
        "softswiss": "412/105",  # HTTP status / code
    }


@pytest.mark.parametrize("protocol", ["native", *sorted(kits.KITS)])
def test_a_protocol_reports_a_limit_in_its_own_status(protocol, transport):  # noqa: F811
    extra, credential = ({"public_key": KEYS[1]}, KEYS[0]) if protocol == "hub88" else ({}, None)
    code = f"{protocol}-limit-{next(_codes)}"
    provider, secret = services.create_provider(
        code=code, name=code, currencies=["EUR"], protocol=protocol, **extra
    )
    player = factories.funded_player(100_00)
    _, token = factories.open_session(player, provider)
    protection.set_limit(
        player=player, kind="wager", period="day", currency="EUR", amount=10_00, reason="x"
    )
    if protocol == "native":
        from simulator.protocols.native import NativeClient

        client = NativeClient(transport, code, secret)
    else:
        client = kits.client(protocol, transport, code, credential or secret)
    seat = Seat(token, player.external_id, "EUR")
    assert client.bet(seat, "lim-1", "lim-r1", 10_00).ok
    refused = client.bet(seat, "lim-2", "lim-r2", 1_00)
    assert str(refused.status) == EXPECTED_STATUS[protocol], refused
    if protocol != "evolution":  # its status word is shared with other refusals
        assert refused.canonical == "LIMIT_EXCEEDED", refused
    # The win of the accepted stake is paid all the same.
    assert client.win(seat, "lim-w1", "lim-r1", 5_00, bet_txn="lim-1", close=True).ok


def test_a_limit_refusal_is_the_wallet_doing_its_job_not_a_provider_error():
    from monitoring.choices import is_error_outcome

    assert not is_error_outcome("LIMIT_EXCEEDED")
