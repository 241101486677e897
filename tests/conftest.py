import json
import time

import pytest
from django.test import Client

from tests import factories
from wallets import crypto


class WalletApiClient:
    """Signs and sends wallet API calls the way a provider does (HMAC over timestamp, request
    path and body)."""

    def __init__(self, provider_code: str, secret: str, client: Client | None = None):
        self.provider_code = provider_code
        self.secret = secret
        self.client = client or Client()

    def headers(
        self,
        body: bytes,
        *,
        path: str,
        timestamp: int | None = None,
        signature: str | None = None,
    ):
        ts = str(int(time.time()) if timestamp is None else timestamp)
        if signature is None:
            signature = crypto.sign(self.secret.encode(), ts, path, body)
        sig = signature
        return {
            "HTTP_X_PROVIDER_CODE": self.provider_code,
            "HTTP_X_TIMESTAMP": ts,
            "HTTP_X_SIGNATURE": sig,
        }

    def raw(self, operation: str, body: bytes, **header_overrides):
        extra = self.headers(
            body,
            path=f"/wallet/v1/{operation}",
            timestamp=header_overrides.pop("timestamp", None),
            signature=header_overrides.pop("signature", None),
        )
        extra.update(header_overrides)
        return self.client.post(
            f"/wallet/v1/{operation}", data=body, content_type="application/json", **extra
        )

    def call(self, operation: str, **fields):
        return self.raw(operation, json.dumps(fields).encode())


@pytest.fixture
def provider_and_secret(db):
    return factories.make_provider("acme")


@pytest.fixture
def provider(provider_and_secret):
    return provider_and_secret[0]


@pytest.fixture
def wallet_api(provider_and_secret):
    provider, secret = provider_and_secret
    return WalletApiClient(provider.code, secret)


@pytest.fixture
def player(db):
    return factories.funded_player(100_00)


@pytest.fixture
def session_and_token(player, provider):
    return factories.open_session(player, provider)


@pytest.fixture
def token(session_and_token):
    return session_and_token[1]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Staff users are created by the hundred in the suite; production hashing is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_login_lockouts_unless_tested(settings):
    # wallets.login_throttle counts failed staff logins in Redis, which outlives a test and a
    # run; only the throttle's own tests (tests/reliability/test_security.py) set real limits.
    settings.ADMIN_LOGIN_MAX_FAILURES = 10**9
    settings.ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = 10**9


@pytest.fixture(scope="session", autouse=True)
def _fraud_baseline_writer_stopped_before_teardown(django_db_setup, django_db_blocker):
    """The fraud baseline writer thread keeps a database connection while it has work; stop it
    (writing what is queued) before the test database is dropped."""
    yield
    from fraud.screening import baseline_writer

    with django_db_blocker.unblock():
        baseline_writer.stop()
