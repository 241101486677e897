"""The wallet API's own way in (wallets.adapters.front): the same answers as through Django's
stack, the same protective headers and checks, and everything else handed to Django."""

import io
import json
import time

import pytest

from config.wsgi import application
from tests import factories
from tests.conftest import WalletApiClient
from wallets import crypto, hooks
from wallets.models import Transaction, Wallet


def wsgi_call(path, body=b"", *, method="POST", host="127.0.0.1", **headers):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        **headers,
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    answer["body"] = b"".join(application(environ, start_response))
    return answer


def signed(secret: str, provider_code: str, path: str, fields: dict) -> tuple[bytes, dict]:
    body = json.dumps(fields).encode()
    timestamp = str(int(time.time()))
    return body, {
        "HTTP_X_PROVIDER_CODE": provider_code,
        "HTTP_X_TIMESTAMP": timestamp,
        "HTTP_X_SIGNATURE": crypto.sign(secret.encode(), timestamp, path, body),
    }


@pytest.fixture
def acme(db):
    provider, secret = factories.make_provider("acme")
    player = factories.funded_player(100_00)
    session, token = factories.open_session(player, provider)
    return provider, secret, session, token


def test_a_bet_through_the_short_way_is_booked_and_answered_as_by_django(acme):
    provider, secret, session, token = acme
    fields = {
        "session_token": token,
        "transaction_id": "w-1",
        "round_id": "r-1",
        "amount": "2.50",
        "currency": "EUR",
    }
    body, headers = signed(secret, "acme", "/wallet/v1/bet", fields)
    answer = wsgi_call("/wallet/v1/bet", body, HTTP_X_REQUEST_ID="caller-id-1", **headers)

    assert answer["status"] == 200
    payload = json.loads(answer["body"])
    row = Transaction.objects.get(provider=provider, external_id="w-1")
    assert payload == {
        "status": "OK",
        "balance": "97.50",
        "currency": "EUR",
        "transaction_id": "w-1",
        "wallet_transaction_id": str(row.pk),
        "duplicate": False,
    }
    assert row.request_id == "caller-id-1" and row.delta_minor == -2_50
    assert Wallet.objects.get(pk=session.wallet_id).balance_minor == 97_50
    # The replay through Django's own stack gives the same row back.
    replay = WalletApiClient("acme", secret).call("bet", **fields)
    assert replay.json()["wallet_transaction_id"] == str(row.pk)
    assert replay.json()["duplicate"] is True


def test_the_short_way_sends_the_headers_django_would(acme):
    _, secret, _, token = acme
    body, headers = signed(secret, "acme", "/wallet/v1/balance", {"session_token": token})
    answer = wsgi_call("/wallet/v1/balance", body, **headers)
    assert answer["status"] == 200
    sent = answer["headers"]
    assert sent["Content-Type"] == "application/json"
    assert sent["Content-Length"] == str(len(answer["body"]))
    assert sent["X-Content-Type-Options"] == "nosniff"
    assert sent["Referrer-Policy"] == "same-origin"
    assert sent["Cross-Origin-Opener-Policy"] == "same-origin"
    assert sent["X-Frame-Options"] == "DENY"
    assert len(sent["X-Request-Id"]) == 32  # none offered: the wallet makes one


@pytest.mark.parametrize("https", [False, True])
def test_the_short_way_and_django_send_the_same_protective_headers(acme, client, settings, https):
    """The headers come from Django's own middleware on both ways, also after a setting changes
    (HSTS is sent on HTTPS only, as Django does)."""
    settings.SECURE_HSTS_SECONDS = 600
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    _, secret, _, token = acme
    protective = {
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "X-Frame-Options",
        "Strict-Transport-Security",
    }
    body, headers = signed(secret, "acme", "/wallet/v1/balance", {"session_token": token})
    scheme = {"wsgi.url_scheme": "https"} if https else {}
    short = wsgi_call("/wallet/v1/balance", body, **scheme, **headers)["headers"]
    through_django = client.post(
        "/wallet/v1/balance", body, content_type="application/json", secure=https, **headers
    )
    assert through_django.status_code == 200
    expected = {
        name: through_django[name] for name in protective if through_django.has_header(name)
    }
    assert {name: short[name] for name in protective if name in short} == expected
    assert expected["X-Frame-Options"] == "SAMEORIGIN"
    assert ("Strict-Transport-Security" in expected) is https


def test_a_host_the_site_does_not_serve_is_refused_by_django(acme):
    _, secret, _, token = acme
    body, headers = signed(secret, "acme", "/wallet/v1/balance", {"session_token": token})
    answer = wsgi_call("/wallet/v1/balance", body, host="evil.example", **headers)
    assert answer["status"] == 400


def test_wrong_method_and_oversized_body_get_the_contract_errors(acme, settings):
    provider, secret, _, token = acme
    answer = wsgi_call("/wallet/v1/bet", method="GET")
    assert answer["status"] == 405 and answer["headers"]["Allow"] == "POST"
    assert json.loads(answer["body"])["code"] == "VALIDATION_ERROR"

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    fields = {"session_token": token, "transaction_id": "big", "round_id": "r", "amount": "1",
              "currency": "EUR", "game_id": "x" * 300}  # fmt: skip
    body, headers = signed(secret, "acme", "/wallet/v1/bet", fields)
    answer = wsgi_call("/wallet/v1/bet", body, **headers)
    assert answer["status"] == 400
    error = json.loads(answer["body"])
    assert error["code"] == "VALIDATION_ERROR" and "too large" in error["message"]
    assert not Transaction.objects.filter(provider=provider, external_id="big").exists()


def test_every_other_path_is_django_s(db):
    assert wsgi_call("/wallet/v1/no-such-operation", b"{}")["status"] == 404
    assert wsgi_call("/wallet/v1/", b"{}")["status"] == 404
    assert wsgi_call("/api/v1/players/", method="GET")["status"] in (401, 403)


def test_calls_through_the_short_way_are_observed_by_monitoring(acme):
    _, secret, _, _ = acme
    seen = []
    hooks.call_observers.append(seen.append)
    try:
        body, headers = signed(secret, "acme", "/wallet/v1/balance", {"session_token": "nope"})
        wsgi_call("/wallet/v1/balance", body, **headers)
    finally:
        hooks.call_observers.remove(seen.append)
    assert [(o.provider_code, o.operation, o.outcome) for o in seen] == [
        ("acme", "balance", "INVALID_TOKEN")
    ]


class SlowBody(io.BytesIO):
    """A request body that arrives `delay` seconds after the call started (a slow upload)."""

    def __init__(self, body: bytes, delay: float):
        super().__init__(body)
        self.delay = delay

    def read(self, *args):
        time.sleep(self.delay)
        self.delay = 0
        return super().read(*args)


def test_the_processing_time_covers_a_slow_body(acme):
    """The wallet's clock starts when the call arrives, before the body is read: the time a
    provider takes to send it is part of the processing time recorded on the row."""
    provider, secret, _, token = acme
    fields = {
        "session_token": token,
        "transaction_id": "slow-1",
        "round_id": "r-slow",
        "amount": "1.00",
        "currency": "EUR",
    }
    body, headers = signed(secret, "acme", "/wallet/v1/bet", fields)
    answer = wsgi_call("/wallet/v1/bet", body, **headers, **{"wsgi.input": SlowBody(body, 0.05)})

    assert answer["status"] == 200, answer["body"]
    row = Transaction.objects.get(provider=provider, external_id="slow-1")
    assert row.processing_us >= 50_000
