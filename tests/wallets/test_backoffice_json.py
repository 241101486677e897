"""JSON bodies of the back-office API are read by wallets.strictjson (through the DRF parser in
wallets/api/parsers.py): a repeated key, nesting deeper than 32 levels, a lone surrogate, NaN or
text that is not JSON is a 400 VALIDATION_ERROR naming the field where it can, and changes
nothing; JSON numbers are exact."""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from wallets.api.renderers import SafeJSONRenderer
from wallets.models import AuditRecord, Player, Transaction, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def integrator():
    user = factories.UserFactory(groups=["integrator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def post_raw(client, path: str, text: str):
    # A lone surrogate can only arrive as a JSON escape (its bytes are not UTF-8): the texts
    # below hold the escapes, the body itself is plain UTF-8.
    return client.post(path, data=text.encode(), content_type="application/json")


def nothing_written():
    return (
        Player.objects.count(),
        Wallet.objects.count(),
        Transaction.objects.count(),
        AuditRecord.objects.count(),
    )


PLAYER = '"external_id": "p-1", "currency": "EUR", "country": "MT"'


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ('{"external_id": "a", ' + PLAYER + "}", "external_id", 'duplicate key "external_id"'),
        ("{" + PLAYER + ', "currency": "USD"}', "currency", 'duplicate key "currency"'),
        ('{"external_id": "p-\\ud800", "currency": "EUR"}', "external_id", "lone surrogate"),
        ('{"external_id": "p-1", "currency": "\\ud800"}', "currency", "lone surrogate"),
        ('{"external_id": "p-1", "currency": "EUR", "country": "\\udc00T"}', "country", "lone"),
        ('{"external_id": "p-1", "currency": "EUR", "\\ud800": 1}', "\\ud800", "lone surrogate"),
        ('{"external_id": "p-1", "currency": "EUR", "x": NaN}', "x", "NaN is not a number"),
        ("{" + PLAYER + ', "x": ' + '{"a": ' * 32 + "1" + "}" * 32 + "}", None, "deeper than 32"),
        ("{" + PLAYER, None, "invalid JSON"),
    ],
)
def test_refused_bodies_are_a_400_naming_the_field_and_change_nothing(
    integrator, body, field, message
):
    before = nothing_written()
    response = post_raw(integrator, "/api/v1/players/", body)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == "VALIDATION_ERROR"
    assert message in answer["message"]
    assert answer.get("field") == field
    assert nothing_written() == before


def test_thirty_two_levels_are_accepted(integrator):
    # The body itself is the first level: 31 more inside an ignored field make 32.
    nested = '{"a": ' * 31 + "1" + "}" * 31
    response = post_raw(integrator, "/api/v1/players/", "{" + PLAYER + ', "x": ' + nested + "}")
    assert response.status_code == 201, response.content


def test_a_very_deep_body_is_a_400_not_a_500(integrator):
    for body in ("[" * 100_000 + "]" * 100_000, '{"a": ' * 50_000 + "1" + "}" * 50_000):
        response = post_raw(integrator, "/api/v1/players/", body)
        assert response.status_code == 400, response.content[:200]
    assert not Player.objects.exists()


def test_a_body_that_is_not_utf8_is_a_400(integrator):
    response = integrator.post(
        "/api/v1/players/", data=b'{"external_id": "\xff"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert not Player.objects.exists()


def test_json_number_amounts_are_exact(integrator):
    player = factories.funded_player(0)
    # 0.29 as a binary float is 0.28999999999999998: through a float it would become 28 cents.
    body = f'{{"player": {player.pk}, "amount": 0.29, "currency": "EUR", "external_id": "d-1"}}'
    response = post_raw(integrator, "/api/v1/payments/deposits", body)
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "0.29"
    assert Wallet.objects.get(player=player, currency="EUR").balance_minor == 29


def test_the_renderer_never_fails_on_text_that_is_not_unicode():
    rendered = SafeJSONRenderer().render({"detail": '"\ud800" is not a valid choice.'})
    assert json.loads(rendered) == {"detail": '"\ud800" is not a valid choice.'}
    assert SafeJSONRenderer().render({"detail": "é"}) == '{"detail":"é"}'.encode()
