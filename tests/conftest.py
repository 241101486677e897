import json
import os
import time

import pytest
from django.test import Client

from tests import factories
from tests.wsgi import wsgi_request
from wallets import crypto, hooks

# How the `wallet_api` fixture reaches the wallet: Django's test client, or the production
# entry point (config.wsgi.application) called directly. Contract suites run both ways by
# overriding `wallet_entry_point` with `params=WALLET_ENTRY_POINTS`.
WALLET_ENTRY_POINTS = ["django", "wsgi"]


class WalletApiClient:
    """Signs and sends wallet API calls the way a provider does (HMAC over timestamp, request
    path and body), through Django's test client or (entry_point="wsgi") through
    config.wsgi.application."""

    def __init__(
        self,
        provider_code: str,
        secret: str,
        client: Client | None = None,
        *,
        entry_point: str = "django",
    ):
        self.provider_code = provider_code
        self.secret = secret
        self.client = client or Client()
        self.entry_point = entry_point

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
        return self.send(operation, body, extra)

    def send(self, operation: str, body: bytes, environ: dict, *, method: str = "POST"):
        """Exactly these headers and environ entries (HTTP_X_..., REMOTE_ADDR), no signing."""
        path = f"/wallet/v1/{operation}"
        if self.entry_point == "wsgi":
            return wsgi_request(method, path, body, **environ)
        data = {} if method in ("GET", "HEAD") else {"data": body}
        send = getattr(self.client, method.lower())
        return send(path, content_type="application/json", **data, **environ)

    def call(self, operation: str, **fields):
        return self.raw(operation, json.dumps(fields).encode())

    def as_provider(self, provider_code: str, secret: str) -> "WalletApiClient":
        """Another provider's client, through the same entry point."""
        return WalletApiClient(provider_code, secret, entry_point=self.entry_point)


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER") and not config.pluginmanager.has_plugin(
        "tests.xdist_isolation"
    ):
        raise pytest.UsageError(
            "several pytest-xdist workers would share one Redis database: "
            "add -p tests.xdist_isolation (make test does)"
        )


@pytest.fixture
def provider_and_secret(db):
    return factories.make_provider("acme")


@pytest.fixture
def provider(provider_and_secret):
    return provider_and_secret[0]


@pytest.fixture
def wallet_entry_point():
    return "django"


@pytest.fixture
def wallet_api(provider_and_secret, wallet_entry_point):
    provider, secret = provider_and_secret
    return WalletApiClient(provider.code, secret, entry_point=wallet_entry_point)


@pytest.fixture
def player(db):
    return factories.funded_player(100_00)


@pytest.fixture
def session_and_token(player, provider):
    return factories.open_session(player, provider)


@pytest.fixture
def token(session_and_token):
    return session_and_token[1]


_HOOKED_APPS = ("fraud", "monitoring", "compliance", "reconciliation")


@pytest.fixture
def production_hooks():
    """The wallet's hooks exactly as production has them: cleared, then installed by the ready()
    of every app that uses wallets.hooks (the fraud screener, baseline listener and decline
    recorder; monitoring's and compliance's call observers; compliance's request inspector...),
    with the seeded fraud rules in place (a transactional test may have flushed them). Whatever
    was installed before the test is put back after it. Needs the database."""
    from django.apps import apps

    from fraud import screening
    from fraud import services as fraud_services

    fraud_services.ensure_default_rules()

    saved = (
        hooks.screener,
        hooks.credential_lifetime,
        [list(registry) for registry in _hook_lists()],
        dict(hooks.metric_sources),
        dict(hooks.attention_lists),
    )
    hooks.screener = hooks.credential_lifetime = None
    for registry in _hook_lists():
        registry.clear()
    for label in _HOOKED_APPS:
        apps.get_app_config(label).ready()
    screening.invalidate_rule_cache()
    try:
        yield
    finally:
        screening.invalidate_rule_cache()
        hooks.screener, hooks.credential_lifetime = saved[0], saved[1]
        for registry, items in zip(_hook_lists(), saved[2], strict=True):
            registry[:] = items
        hooks.metric_sources.clear()
        hooks.metric_sources.update(saved[3])
        hooks.attention_lists.clear()
        hooks.attention_lists.update(saved[4])


def _hook_lists() -> list[list]:
    return [
        hooks.ledger_listeners,
        hooks.decline_recorders,
        hooks.call_observers,
        hooks.request_inspectors,
    ]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Staff users are created by the hundred in the suite; production hashing is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _reads_on_the_primary_unless_tested():
    """The suite's tests write in transactions the replica never sees; only the replica
    routing tests (tests/reliability/test_replica_reads.py) read from the real standby."""
    from django.conf import settings

    settings.REPLICA_READS = False


@pytest.fixture(autouse=True)
def _no_login_lockouts_unless_tested(settings):
    # wallets.login_throttle counts failed staff logins in Redis, which outlives a test and a
    # run; only the throttle's own tests (tests/reliability/test_security.py) set real limits.
    settings.ADMIN_LOGIN_MAX_FAILURES = 10**9
    settings.ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = 10**9


_TRANSACTIONAL_FIXTURES = {
    "transactional_db",
    "live_server",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


@pytest.fixture(autouse=True)
def _fraud_baseline_writer_idle_before_flush(request):
    """A transactional test's committed ledger rows queue fraud baseline updates that the
    writer thread applies on its own connection; stop it (writing what is queued) before the
    test's tables are flushed, or the flush's TRUNCATE can meet the writer's upsert and one of
    them is aborted as a deadlock. The database fixture is set up before this one, so it is
    torn down (flushed) after it."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        _TRANSACTIONAL_FIXTURES & set(request.fixturenames)
    )
    if transactional:
        request.getfixturevalue("_django_db_helper")
    yield
    if transactional:
        from fraud.screening import baseline_writer

        baseline_writer.stop()


@pytest.fixture(scope="session", autouse=True)
def _fraud_baseline_writer_stopped_before_teardown(django_db_setup, django_db_blocker):
    """The fraud baseline writer thread keeps a database connection while it has work; stop it
    (writing what is queued) before the test database is dropped."""
    yield
    from fraud.screening import baseline_writer

    with django_db_blocker.unblock():
        baseline_writer.stop()


@pytest.fixture(scope="session")
def migrated_template():
    """An empty database migrated once per run (on the server of DATABASE_URL), for the tests
    whose processes need a database of their own: they copy it (CREATE DATABASE ... TEMPLATE,
    a second) instead of replaying every migration (many seconds each time). Nothing connects
    to it after the migration, so it is always a valid template. (its name, its URL)"""
    from tests.reliability import servers

    server_url = os.environ.get("DATABASE_URL", "postgresql://pitboss@127.0.0.1:54329/pitboss")
    name = f"pitboss_tests_{os.getpid()}_tpl"
    url = servers.create_database(server_url, name)
    try:
        servers.migrate(servers.base_env(url, "redis://127.0.0.1:1/0"))
        yield name, url
    finally:
        servers.drop_database(server_url, name)
