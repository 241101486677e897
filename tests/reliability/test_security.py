"""Security settings and staff access: the production configuration passes `check --deploy`,
secure cookies / HSTS / proxy headers are on when configured, staff logins are rate limited,
the admin enforces CSRF, and no secret (provider secret, session token, staff token, password)
shows up in a response body after the one response that hands it out, nor in a log line."""

import json
import logging
import os
import secrets
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from tests.conftest import WalletApiClient
from tests.reliability.servers import ROOT
from wallets import login_throttle


def production_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(
        PITBOSS_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(64),
        PITBOSS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="wallet.example.com",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.pop("DEBUG", None)
    env.update(extra)
    return env


def check_deploy(**env) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout + done.stderr


def test_check_deploy_is_clean_in_production():
    output = check_deploy(METRICS_TOKEN=secrets.token_urlsafe(32))
    # drf-spectacular's schema warnings are judged by
    # tests/wallets/test_schema.py::test_schema_generation_has_no_warnings; everything else here.
    issues = [
        line
        for line in output.splitlines()
        if line.startswith("?:") or ": (" in line
        if "drf_spectacular." not in line
    ]
    assert not issues, output
    assert "security." not in output, output


def test_check_deploy_warns_when_metrics_have_no_token_in_production():
    output = check_deploy(METRICS_TOKEN="")
    assert "pitboss.W001" in output and "METRICS_TOKEN" in output, output


SETTINGS_PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name, None) for name in [
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "USE_X_FORWARDED_HOST",
    "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS", "AUTHENTICATION_BACKENDS"]}))
"""


def run_in_production(code: str, **env) -> str:
    """What `code` prints, run by a fresh Python process with the production settings."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def probe_settings(**env) -> dict:
    return json.loads(run_in_production(SETTINGS_PROBE, **env).splitlines()[-1])


def test_production_has_secure_cookies_hsts_and_proxy_headers_when_configured():
    plain = probe_settings()
    assert plain["DEBUG"] is False
    assert plain["SESSION_COOKIE_SECURE"] is True
    assert plain["CSRF_COOKIE_SECURE"] is True
    assert plain["SESSION_COOKIE_HTTPONLY"] is True
    assert plain["SECURE_SSL_REDIRECT"] is True
    assert plain["SECURE_HSTS_SECONDS"] >= 31536000
    assert plain["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert plain["SECURE_HSTS_PRELOAD"] is True
    assert plain["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert plain["X_FRAME_OPTIONS"] == "DENY"
    # Forwarded headers are trusted only behind a proxy that sets them.
    assert plain["SECURE_PROXY_SSL_HEADER"] is None
    assert not plain["USE_X_FORWARDED_HOST"]
    proxied = probe_settings(BEHIND_PROXY="true", SECURE_HSTS_SECONDS="600")
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert proxied["USE_X_FORWARDED_HOST"] is True
    assert proxied["SECURE_HSTS_SECONDS"] == 600
    assert proxied["AUTHENTICATION_BACKENDS"][0] == "wallets.login_throttle.LoginThrottleBackend"


def _database_setting(name: str, **env) -> str:
    """A PostgreSQL setting as a process started with `env` sees it on its own connection (to
    the server's maintenance database: only the session matters)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    env.setdefault("DATABASE_URL", urlunsplit(url._replace(path="/postgres")))
    code = (
        "import django; django.setup(); from django.db import connection; "
        f"cursor = connection.cursor(); cursor.execute('SHOW {name}'); print(cursor.fetchone()[0])"
    )
    return run_in_production(code, **env)


def test_web_server_connections_cannot_hang_on_a_statement():
    """The web server's database connections carry a statement timeout (30 s unless set), other
    processes (Celery, commands) none; WEB_BIND is checked."""
    from config import server

    assert _database_setting("statement_timeout", DB_STATEMENT_TIMEOUT_MS="1500") == "1500ms"
    assert _database_setting("statement_timeout") == "0"
    serve = (
        "import os, config.server as s; s.os.execv = lambda *a: print(os.environ"
        "['DB_STATEMENT_TIMEOUT_MS'], ' '.join(a[1])); s.main()"
    )
    printed = run_in_production(serve, WEB_BIND="127.0.0.1:8123", WEB_CONCURRENCY="3")
    timeout, command = printed.split(" ", 1)
    assert timeout == "30000"
    assert "--interface wsgi --host 127.0.0.1 --port 8123 --workers 3" in command
    assert command.endswith("config.wsgi:application")
    assert server.argv()[-1] == "config.wsgi:application"
    for bind, host in [("[::1]:8124", "::1"), ("0.0.0.0:8125", "0.0.0.0")]:
        command = run_in_production(
            "import config.server as s; print(' '.join(s.argv()))", WEB_BIND=bind
        )
        assert f"--host {host} --port {bind.rsplit(':', 1)[1]} " in command
    for bind in ["0.0.0.0", "localhost:http", ""]:
        with pytest.raises(subprocess.CalledProcessError) as refused:
            run_in_production("import config.server as s; s.argv()", WEB_BIND=bind)
        assert "WEB_BIND must be host:port" in refused.value.stderr


# --- login rate limiting --------------------------------------------------------------------------


def admin_login(client: Client, username: str, password: str, address: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def staff_user(db):
    name = f"guard-{secrets.token_hex(4)}"
    user = get_user_model().objects.create_user(name, password="right-password-123", is_staff=True)
    user.plain_password = "right-password-123"
    return user


@pytest.fixture
def fresh_throttle():
    login_throttle._redis_client = None
    login_throttle._local.clear()
    yield
    login_throttle._redis_client = None
    login_throttle._local.clear()


@pytest.fixture(params=["redis", "redis down"])
def throttle_store(request, settings, fresh_throttle):
    if request.param == "redis down":
        settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: per-process counts
    return request.param


def test_admin_login_locks_out_after_repeated_failures(staff_user, settings, throttle_store):
    settings.ADMIN_LOGIN_MAX_FAILURES = 5
    address = f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    client = Client()
    assert logged_in(admin_login(client, staff_user.username, staff_user.plain_password, address))
    client = Client()
    for _ in range(5):
        response = admin_login(client, staff_user.username, "wrong", address)
        assert response.status_code == 200 and not logged_in(response)
    # Locked: the right password no longer gets in from this address...
    response = admin_login(client, staff_user.username, staff_user.plain_password, address)
    assert not logged_in(response)
    assert "_auth_user_id" not in client.session
    # ...nor through the browsable API's login.
    response = client.post(
        "/api-auth/login/",
        {"username": staff_user.username, "password": staff_user.plain_password},
        REMOTE_ADDR=address,
    )
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by someone else's guessing.
    other = Client()
    assert logged_in(admin_login(other, staff_user.username, staff_user.plain_password, "10.8.0.1"))


def test_lockout_ends_after_the_window_and_success_clears_failures(
    staff_user, settings, fresh_throttle
):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    address = f"10.7.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    client = Client()
    for _ in range(2):
        admin_login(client, staff_user.username, "wrong", address)
    assert logged_in(admin_login(client, staff_user.username, staff_user.plain_password, address))
    client = Client()
    for _ in range(2):  # the success above reset the count: two more failures do not lock
        admin_login(client, staff_user.username, "wrong", address)
    assert logged_in(admin_login(client, staff_user.username, staff_user.plain_password, address))
    client = Client()
    for _ in range(3):
        admin_login(client, staff_user.username, "wrong", address)
    assert not logged_in(
        admin_login(client, staff_user.username, staff_user.plain_password, address)
    )
    # The window passes (its keys expire): the right password works again.
    user_key, _ = login_throttle._keys(type("R", (), {"META": {"REMOTE_ADDR": address}})(),
                                       staff_user.username)  # fmt: skip
    login_throttle._clear(user_key)
    assert logged_in(admin_login(client, staff_user.username, staff_user.plain_password, address))


def test_one_address_guessing_many_usernames_is_locked_out(db, settings, fresh_throttle):
    settings.ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = 6
    address = f"10.6.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    user = get_user_model().objects.create_user("sprayed", password="right-password-123",
                                                is_staff=True)  # fmt: skip
    client = Client()
    for n in range(6):
        admin_login(client, f"nobody{n}", "guess", address)
    assert not logged_in(admin_login(client, user.username, "right-password-123", address))
    assert logged_in(admin_login(Client(), user.username, "right-password-123", "10.5.0.1"))


# --- CSRF on the admin ----------------------------------------------------------------------------


def test_admin_posts_need_a_csrf_token(db, fresh_throttle):
    admin_user = factories.UserFactory(is_superuser=True)
    player = factories.make_player()
    client = Client(enforce_csrf_checks=True)
    # The login form itself.
    response = client.post("/admin/login/", {"username": admin_user.username,
                                             "password": "pitboss-test-pw"})  # fmt: skip
    assert response.status_code == 403
    client.force_login(admin_user)
    action = {"action": "delete_selected", "_selected_action": [player.pk]}
    response = client.post("/admin/wallets/player/", action)
    assert response.status_code == 403
    response = client.post("/admin/logout/")
    assert response.status_code == 403
    # With the token from the page, the same POST passes the CSRF check (the action may then
    # be refused for its own reasons, but not as a forgery).
    client.get("/admin/wallets/player/")
    token = client.cookies["csrftoken"].value
    response = client.post("/admin/wallets/player/", {**action, "csrfmiddlewaretoken": token})
    assert response.status_code != 403
    assert factories.Player.objects.filter(pk=player.pk).exists()


# --- secrets stay secret --------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_secret_in_any_response_or_log_after_it_was_shown_once(caplog):
    caplog.set_level(logging.DEBUG)
    staff = factories.UserFactory(is_superuser=True)
    staff_token = Token.objects.create(user=staff).key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {staff_token}")

    created = api.post("/api/v1/providers/", {"code": "sec", "name": "Sec", "currencies": ["EUR"]},
                       format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    first_secret = created.json()["secret"]
    rotated = api.post("/api/v1/providers/sec/rotate-secret", {"reason": "scheduled rotation"},
                       format="json")  # fmt: skip
    assert rotated.status_code in (200, 201), rotated.content
    second_secret = rotated.json()["secret"]
    player = api.post("/api/v1/players/", {"external_id": "sec-p", "currency": "EUR",
                                           "country": "MT", "registration_ip": "10.0.0.9"},
                      format="json").json()  # fmt: skip
    deposit = api.post("/api/v1/payments/deposits", {"player": player["id"], "amount": "50.00",
                       "currency": "EUR", "external_id": "sec-d1", "ip": "10.0.0.9"},
                       format="json")  # fmt: skip
    assert deposit.status_code in (200, 201), deposit.content
    session = api.post("/api/v1/sessions/", {"player": player["id"], "provider": "sec",
                       "currency": "EUR", "game_id": "slot"}, format="json")  # fmt: skip
    assert session.status_code == 201, session.content
    session_token = session.json()["session_token"]
    session_id = session.json()["id"]

    wallet = WalletApiClient("sec", second_secret)
    assert wallet.call("authenticate", session_token=session_token).status_code == 200
    bet = wallet.call("bet", session_token=session_token, transaction_id="sec-b1",
                      round_id="sec-r1", amount="1.00", currency="EUR")  # fmt: skip
    assert bet.status_code == 200
    bad = wallet.raw("bet", b'{"session_token": "' + session_token.encode() + b'"}',
                     signature="0" * 64)  # fmt: skip
    assert bad.status_code == 401

    secrets_ = {
        "first provider secret": first_secret,
        "rotated provider secret": second_secret,
        "session token": session_token,
        "staff token": staff_token,
    }
    bodies = {}
    paths = [
        "/api/v1/providers/", "/api/v1/providers/sec/", f"/api/v1/players/{player['id']}/",
        "/api/v1/players/", "/api/v1/sessions/", f"/api/v1/sessions/{session_id}/",
        "/api/v1/transactions/", "/api/v1/audit/",
    ]  # fmt: skip
    paths += list_endpoints_of_every_app()
    for path in paths:
        response = api.get(path)
        assert response.status_code < 500, (path, response.status_code)
        bodies[path] = body_of(response)
    admin = Client()
    admin.force_login(staff)
    for path in ["/admin/wallets/provider/", "/admin/wallets/providercredential/",
                 "/admin/wallets/gamesession/", "/admin/wallets/transaction/",
                 "/admin/wallets/auditrecord/", "/admin/authtoken/tokenproxy/",
                 f"/admin/authtoken/tokenproxy/{staff.pk}/change/",
                 f"/admin/authtoken/tokenproxy/{staff.pk}/delete/"]:  # fmt: skip
        response = admin.get(path)
        assert response.status_code == 200, path
        bodies[f"admin {path}"] = body_of(response)
    leaks = [
        f"{what} in {where}"
        for where, body in bodies.items()
        for what, value in secrets_.items()
        if value in body
    ]
    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    leaks += [f"{what} in the log" for what, value in secrets_.items() if value in logged]
    assert not leaks, leaks


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def list_endpoints_of_every_app() -> list[str]:
    """The parameterless GET routes under /api/v1/ of every app, from the URL configuration."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                path = "/" + route.replace("^", "").replace("$", "").replace("\\", "")
                if path.startswith("/api/v1/") and not any(c in path for c in "<(?[{"):
                    found.append(path)

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))
