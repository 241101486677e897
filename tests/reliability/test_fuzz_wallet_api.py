"""A fuzzer for the provider wallet API: hypothesis builds bodies with random types and values
for every field (and bodies that are not JSON at all) and mutates the headers; half the calls are
signed correctly over the exact bytes sent, so the handlers behind the signature check are
reached too. Whatever arrives: never a 5xx, always a JSON answer, and a refused call changes no
balance, no reservation and writes no ledger row."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.conftest import WalletApiClient
from tests.wallets.test_ledger import assert_ledger_invariant, quiet_hooks  # noqa: F401
from wallets import crypto
from wallets.models import GameSession, Transaction, Wallet

pytestmark = pytest.mark.django_db

OPERATIONS = ["authenticate", "balance", "bet", "win", "rollback", "round/close", "session/close"]
FIGURES = {"cases": 0, "signed": 0, "accepted": 0}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1e3",
            "NaN",
            "Infinity",
            "0.001",
            "1.005",
            "\x00",
            "9" * 40,
            "12.34",
            "EUR",
            "JPY",
            "XXX",
            "eur",
            "true",
            "١٢٣",
        ]
    ),
)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                          inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def field_values(valid):
    return st.one_of(st.just(valid), anything)


@st.composite
def bodies(draw, token):
    n = draw(st.integers(0, 10**6))
    fields = {
        "session_token": field_values(token),
        "transaction_id": field_values(f"fz-{n}"),
        "reference_transaction_id": field_values(f"fz-{n - 1}"),
        "round_id": field_values(f"fr-{n % 50}"),
        "amount": field_values(draw(st.sampled_from(["0.50", "1.00", "2.5", "0", "100000.00"]))),
        "currency": field_values("EUR"),
        "round_closed": field_values(draw(st.booleans())),
        "game_id": field_values("slot-1"),
    }
    body = {}
    for name, strategy in fields.items():
        if draw(st.integers(0, 9)) > 0:  # most fields present
            body[name] = draw(strategy)
    extra = draw(st.dictionaries(st.text(max_size=10), anything, max_size=2))
    body.update({k: v for k, v in extra.items() if k not in body})
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(anything).__repr__().encode()
    if kind == 2:
        return json.dumps(draw(anything)).encode()
    if kind == 3:
        return b'{"amount": 1, "amount": 2}'
    return json.dumps(body).encode()


@st.composite
def headers(draw, provider_code, secret, path, body):
    timestamp = str(int(time.time()))
    signed = draw(st.booleans())
    values = {
        "HTTP_X_PROVIDER_CODE": provider_code,
        "HTTP_X_TIMESTAMP": timestamp,
        "HTTP_X_SIGNATURE": crypto.sign(secret.encode(), timestamp, path, body),
    }
    if not signed:
        mutation = draw(
            st.sampled_from(["drop", "signature", "timestamp", "code", "old", "other", "path"])
        )
        if mutation == "drop":
            del values[draw(st.sampled_from(sorted(values)))]
        elif mutation == "signature":
            values["HTTP_X_SIGNATURE"] = draw(st.text(max_size=70))
        elif mutation == "timestamp":
            values["HTTP_X_TIMESTAMP"] = draw(st.text(max_size=15))
        elif mutation == "code":
            values["HTTP_X_PROVIDER_CODE"] = draw(st.text(max_size=20))
        elif mutation == "old":  # well signed, outside the window
            old = str(int(time.time()) - draw(st.integers(301, 10**9)))
            values["HTTP_X_TIMESTAMP"] = old
            values["HTTP_X_SIGNATURE"] = crypto.sign(secret.encode(), old, path, body)
        elif mutation == "other":  # a signature of another body
            values["HTTP_X_SIGNATURE"] = crypto.sign(secret.encode(), timestamp, path, body + b" ")
        else:  # the same body signed for another operation: never replayable elsewhere
            other = "/wallet/v1/win" if path != "/wallet/v1/win" else "/wallet/v1/bet"
            values["HTTP_X_SIGNATURE"] = crypto.sign(secret.encode(), timestamp, other, body)
    if draw(st.integers(0, 9)) == 0:
        values["HTTP_X_FORWARDED_FOR"] = draw(st.text(max_size=30))
    if draw(st.integers(0, 9)) == 0:
        values["HTTP_X_REQUEST_ID"] = draw(st.text(max_size=80))
    return signed, values


def snapshot():
    return (
        list(Wallet.objects.order_by("pk").values_list("pk", "balance_minor", "reserved_minor")),
        list(GameSession.objects.order_by("pk").values_list("pk", "reserved_minor")),
        Transaction.objects.count(),
    )


@pytest.mark.parametrize(
    ("entry_point", "installed_hooks", "examples"),
    [
        ("django", "none", 400),
        # The production entry point with production's hooks: the compliance inspector and
        # observers, monitoring's observer and the fraud screener see every call too.
        ("wsgi", "production", 150),
    ],
)
def test_random_bodies_and_headers_never_5xx_and_refusals_change_nothing(
    request, entry_point, installed_hooks, examples
):
    if installed_hooks == "production":
        request.getfixturevalue("production_hooks")
    FIGURES.update(cases=0, signed=0, accepted=0)
    provider, secret = factories.make_provider("fuzzprov")
    player = factories.funded_player(1_000_00)
    _, token = factories.open_session(player, provider, buy_in_minor=10_00)
    client = WalletApiClient(provider.code, secret, entry_point=entry_point)

    @given(data=st.data())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(data):
        FIGURES["cases"] += 1
        operation = data.draw(st.sampled_from(OPERATIONS))
        body = data.draw(bodies(token))
        signed, extra = data.draw(headers(provider.code, secret, f"/wallet/v1/{operation}", body))
        FIGURES["signed"] += signed
        before = snapshot()
        response = client.send(operation, body, extra)
        assert response.status_code < 500, (operation, body, extra, response.content)
        payload = json.loads(response.content)
        assert payload["status"] in ("OK", "ERROR")
        if payload["status"] == "OK":
            assert response.status_code == 200
            FIGURES["accepted"] += 1
        else:
            assert response.status_code >= 400
            assert snapshot() == before, (operation, body, payload)

    fuzz()
    assert_ledger_invariant()
    print(
        f"\nRELIABILITY wallet fuzz ({entry_point}, hooks {installed_hooks}): "
        f"{FIGURES['cases']} cases, {FIGURES['signed']} signed, "
        f"{FIGURES['accepted']} accepted, 0 5xx, 0 balance changes on refusals"
    )
    assert FIGURES["accepted"] > 0  # the fuzzer does reach the money handlers
