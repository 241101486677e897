"""Each check over the real wallet API: a positive and a negative case, and what is recorded."""

import json
import logging
import time

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from compliance import services
from compliance.choices import Severity, ViolationKind
from compliance.models import SecurityViolation
from tests import factories
from wallets.models import ProviderCredential, Transaction, Wallet

pytestmark = pytest.mark.django_db

VISA = "4111111111111111"
VISA_SPACED = "4111 1111 1111 1111"


def kinds(provider=None):
    rows = SecurityViolation.objects.all()
    if provider is not None:
        rows = rows.filter(provider=provider)
    return sorted(rows.values_list("kind", flat=True))


def bet(api, token, tx="t1", **extra):
    fields = dict(
        session_token=token, transaction_id=tx, round_id="r1", amount="1.00", currency="EUR"
    )
    fields.update(extra)
    return api.call("bet", **fields)


def all_text_in_database() -> str:
    """Every text-like column of every table in the public schema, concatenated."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
            """
        )
        columns = cursor.fetchall()
        chunks = []
        for table, column in columns:
            cursor.execute(f'SELECT string_agg("{column}"::text, \'|\') FROM "{table}"')
            chunks.append(cursor.fetchone()[0] or "")
    return "\n".join(chunks)


def digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit() or c == "\n")


# --- plain-text card numbers: detected before storing, redacted everywhere ------------------


def test_card_number_in_a_stored_field_is_redacted_everywhere(wallet_api, token, provider, caplog):
    caplog.set_level(logging.DEBUG)
    response = bet(wallet_api, token, tx=f"tx-{VISA_SPACED}", game_id=f"g {VISA}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["balance"] == "99.00"
    stored = Transaction.objects.get(provider=provider, kind="bet")
    assert stored.external_id.startswith("tx-CARD-1111-")
    assert body["transaction_id"] == stored.external_id

    violation = SecurityViolation.objects.get(kind=ViolationKind.CARD_NUMBER)
    assert violation.severity == Severity.CRITICAL
    assert violation.provider == provider
    assert violation.evidence["fields"] == ["game_id", "transaction_id"]
    assert violation.evidence["count"] == 2
    assert violation.request_id

    # the raw number is in no table (spaced or not), no log line and no evidence
    dump = all_text_in_database()
    assert VISA not in dump and VISA_SPACED not in dump
    assert VISA not in digits_only(dump)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert VISA not in logs and VISA_SPACED not in logs
    assert VISA not in json.dumps(violation.evidence)
    assert any("card_number" in r.getMessage() for r in caplog.records)  # it was noticed


def test_card_number_replay_keeps_idempotency(wallet_api, token, player):
    first = bet(wallet_api, token, tx=VISA)
    again = bet(wallet_api, token, tx=VISA)
    other = bet(wallet_api, token, tx="5555555555554444")
    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    assert again.json()["wallet_transaction_id"] == first.json()["wallet_transaction_id"]
    assert other.json()["duplicate"] is False
    wallet = Wallet.objects.get(player=player)
    assert wallet.balance_minor == 98_00  # two bets, not three
    # a rollback naming the (redacted the same way) original finds it
    rollback = wallet_api.call(
        "rollback", session_token=token, transaction_id="rb1",
        reference_transaction_id=VISA, round_id="r1",
    )  # fmt: skip
    assert rollback.status_code == 200, rollback.content
    assert Wallet.objects.get(player=player).balance_minor == 99_00


def test_card_number_in_the_request_id_header(wallet_api, token, provider):
    body = json.dumps(
        dict(session_token=token, transaction_id="t1", round_id="r1", amount="1", currency="EUR")
    ).encode()
    response = wallet_api.raw("bet", body, HTTP_X_REQUEST_ID=VISA)
    assert response.status_code == 200
    assert VISA not in response["X-Request-Id"]
    assert Transaction.objects.get(kind="bet").request_id.startswith("CARD-1111-")
    assert kinds() == [ViolationKind.CARD_NUMBER]


def test_the_wallets_own_request_ids_are_not_scanned(wallet_api, token, monkeypatch):
    """Request ids the wallet generates are random hex; a digit run in one may pass the Luhn
    check by chance. Only ids a caller sent can carry a caller's data."""
    import uuid

    class LuckyUuid:
        hex = "a" + VISA + "b" * (31 - len(VISA))

    monkeypatch.setattr(uuid, "uuid4", lambda: LuckyUuid())
    body = json.dumps(
        dict(session_token=token, transaction_id="t1", round_id="r1", amount="1", currency="EUR")
    ).encode()
    response = wallet_api.raw("bet", body)
    assert response.status_code == 200
    assert response["X-Request-Id"] == LuckyUuid.hex
    assert kinds() == []


def test_clean_calls_record_nothing(wallet_api, token):
    assert bet(wallet_api, token, tx="1234567890123", game_id="slot-7").status_code == 200
    assert wallet_api.call("balance", session_token=token).status_code == 200
    assert kinds() == []


def test_card_number_as_a_json_number_amount_is_refused_not_credited(wallet_api, token, player):
    body = (
        b'{"session_token": "%s", "transaction_id": "w1", "round_id": "r1", '
        b'"amount": 4111111111111111, "currency": "EUR"}' % token.encode()
    )
    response = wallet_api.raw("win", body)
    assert response.status_code == 400
    assert Wallet.objects.get(player=player).balance_minor == 100_00
    assert kinds() == [ViolationKind.CARD_NUMBER]
    assert VISA not in digits_only(all_text_in_database())


# --- cvv, passwords, e-mail addresses -------------------------------------------------------


@pytest.mark.parametrize(
    "extra, kind",
    [
        ({"cvv": "123"}, ViolationKind.CVV),
        ({"card": {"security_code": "999"}}, ViolationKind.CVV),
        ({"password": "hunter2"}, ViolationKind.PASSWORD),
        ({"pin": "0000"}, ViolationKind.PASSWORD),
        ({"game_id": "jane@example.com"}, ViolationKind.EMAIL),
    ],
)
def test_sensitive_fields(wallet_api, token, extra, kind):
    assert bet(wallet_api, token, **extra).status_code == 200
    assert kinds() == [kind]
    dump = all_text_in_database()
    assert "hunter2" not in dump and "jane@example.com" not in dump


def test_no_email_no_violation(wallet_api, token):
    assert bet(wallet_api, token, game_id="slot@night").status_code == 200  # not an address
    assert kinds() == []


# --- TLS ------------------------------------------------------------------------------------


def test_plain_http_when_tls_is_required(wallet_api, token, provider, set_policy):
    set_policy(provider, require_tls=True)
    assert wallet_api.call("balance", session_token=token).status_code == 200  # still served
    assert kinds() == [ViolationKind.PLAIN_HTTP]
    violation = SecurityViolation.objects.get()
    assert violation.evidence == {"operation": "balance"}
    assert violation.client_ip == "127.0.0.1"


def test_https_or_tls_not_required_records_nothing(wallet_api, token, provider, set_policy):
    wallet_api.call("balance", session_token=token)  # TLS not required by default
    set_policy(provider, require_tls=True)
    body = json.dumps({"session_token": token}).encode()
    assert wallet_api.raw("balance", body, secure=True).status_code == 200
    assert kinds() == []


def test_forwarded_proto_counts_only_behind_a_proxy(wallet_api, token, provider, set_policy):
    set_policy(provider, require_tls=True)
    body = json.dumps({"session_token": token}).encode()
    with override_settings(
        BEHIND_PROXY=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
    ):
        wallet_api.raw("balance", body, HTTP_X_FORWARDED_PROTO="https")
    assert kinds() == []
    wallet_api.raw("balance", body, HTTP_X_FORWARDED_PROTO="https")  # not behind a proxy
    assert kinds() == [ViolationKind.PLAIN_HTTP]


# --- signature failures, clock skew, allowlist ----------------------------------------------


def test_repeated_signature_failures(wallet_api, token, provider, set_policy):
    set_policy(provider, signature_failure_threshold=3, signature_failure_window_seconds=300)
    body = json.dumps({"session_token": token}).encode()
    for _ in range(2):
        assert wallet_api.raw("balance", body, signature="0" * 64).status_code == 401
    assert kinds() == []  # under the threshold
    assert wallet_api.raw("balance", body, signature="0" * 64).status_code == 401
    assert kinds() == [ViolationKind.SIGNATURE_FAILURES]
    assert SecurityViolation.objects.get().evidence["failures"] == 3
    for _ in range(5):  # further failures in the same window: no new rows
        wallet_api.raw("balance", body, signature="0" * 64)
    assert kinds() == [ViolationKind.SIGNATURE_FAILURES]


def test_failures_of_unknown_providers_and_good_calls_are_not_counted(
    wallet_api, token, provider, set_policy
):
    set_policy(provider, signature_failure_threshold=2)
    body = json.dumps({"session_token": token}).encode()
    for _ in range(3):
        wallet_api.raw("balance", body, HTTP_X_PROVIDER_CODE="nobody", signature="0" * 64)
        assert wallet_api.raw("balance", body).status_code == 200
    assert kinds() == []


def test_expired_timestamp_is_clock_skew(wallet_api, token, provider):
    body = json.dumps({"session_token": token}).encode()
    old = wallet_api.raw("balance", body, timestamp=int(time.time()) - 3600)
    assert old.json()["code"] == "SIGNATURE_EXPIRED"
    assert ViolationKind.CLOCK_SKEW in kinds(provider)
    assert SecurityViolation.objects.get(kind=ViolationKind.CLOCK_SKEW).severity == Severity.LOW


def test_fresh_timestamp_is_not_clock_skew(wallet_api, token):
    body = json.dumps({"session_token": token}).encode()
    assert wallet_api.raw("balance", body, timestamp=int(time.time()) - 60).status_code == 200
    assert kinds() == []


def test_call_from_outside_the_allowlist(wallet_api, token, provider):
    provider.ip_allowlist = ["10.0.0.0/8"]
    provider.save()
    body = json.dumps({"session_token": token}).encode()
    refused = wallet_api.raw("balance", body, REMOTE_ADDR="192.0.2.7")
    assert refused.json()["code"] == "IP_NOT_ALLOWED"
    assert wallet_api.raw("balance", body, REMOTE_ADDR="10.1.2.3").status_code == 200
    violation = SecurityViolation.objects.get()
    assert violation.kind == ViolationKind.IP_NOT_ALLOWED
    assert violation.client_ip == "192.0.2.7"
    assert violation.evidence["client_ip"] == "192.0.2.7"


# --- duplicates within a minute -------------------------------------------------------------


def test_repeats_within_a_minute_fold_into_one_row(wallet_api, token, provider):
    for n in range(4):
        assert bet(wallet_api, token, tx=f"t{n}", cvv="123").status_code == 200
    assert kinds() == [ViolationKind.CVV]
    assert services.fold_repeats() == 3
    assert SecurityViolation.objects.get().occurrences == 4
    assert services.fold_repeats() == 0  # taken once
    # another provider is gated on its own
    other, secret = factories.make_provider("other")
    from tests.conftest import WalletApiClient

    _, other_token = factories.open_session(factories.funded_player(10_00), other)
    WalletApiClient("other", secret).call("balance", session_token=other_token, cvv="1")
    assert kinds(other) == [ViolationKind.CVV]


# --- credential lifetimes (periodic job) ----------------------------------------------------


def test_credential_without_expiry_or_too_old(provider, set_policy):
    set_policy(max_credential_lifetime_days=90)
    credential = ProviderCredential.objects.get(provider=provider)
    assert credential.expires_at is None
    assert services.check_credentials() == 1
    assert kinds() == [ViolationKind.CREDENTIAL_NO_EXPIRY]
    assert services.check_credentials() == 0  # once a day per credential

    ProviderCredential.objects.filter(pk=credential.pk).update(
        created_at=timezone.now() - timezone.timedelta(days=91)
    )
    assert services.check_credentials() == 1
    too_old = SecurityViolation.objects.get(kind=ViolationKind.CREDENTIAL_TOO_OLD)
    assert too_old.evidence["fingerprint"] == credential.fingerprint
    assert too_old.evidence["age_days"] == 91
    assert "secret" not in json.dumps(too_old.evidence).replace("secret_", "")


def test_fresh_expiring_credentials_and_revoked_ones_are_fine(provider, set_policy):
    set_policy(max_credential_lifetime_days=90)
    ProviderCredential.objects.filter(provider=provider).update(
        expires_at=timezone.now() + timezone.timedelta(days=30)
    )
    revoked, _ = factories.make_provider("gone")
    ProviderCredential.objects.filter(provider=revoked).update(
        revoked_at=timezone.now(), created_at=timezone.now() - timezone.timedelta(days=999)
    )
    assert services.check_credentials() == 0
    assert kinds() == []


# --- the hot path stays cheap ---------------------------------------------------------------


def test_clean_calls_cost_no_compliance_query(wallet_api, token, provider, set_policy):
    from django.test.utils import CaptureQueriesContext

    set_policy(provider, require_tls=False)
    wallet_api.call("balance", session_token=token)  # warms the policy cache
    with CaptureQueriesContext(connection) as queries:
        assert bet(wallet_api, token, tx="t-clean").status_code == 200
        assert wallet_api.call("balance", session_token=token).status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "compliance_" in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        assert bet(wallet_api, token, tx="t-cvv", cvv="123").status_code == 200
    touching = [q["sql"] for q in queries.captured_queries if "compliance_" in q["sql"]]
    assert len(touching) == 1 and touching[0].startswith("INSERT")


def test_counting_goes_on_in_process_when_redis_is_down(wallet_api, token, provider, set_policy):
    import redis

    from compliance import counters

    set_policy(provider, signature_failure_threshold=2)
    counters._state.client = redis.Redis(
        host="127.0.0.1", port=1, socket_timeout=0.05, socket_connect_timeout=0.05
    )
    try:
        body = json.dumps({"session_token": token}).encode()
        for _ in range(2):
            assert wallet_api.raw("balance", body, signature="0" * 64).status_code == 401
        assert kinds() == [ViolationKind.SIGNATURE_FAILURES]
        assert bet(wallet_api, token, tx="t1", cvv="1").status_code == 200
        assert bet(wallet_api, token, tx="t2", cvv="1").status_code == 200
        assert kinds() == [ViolationKind.CVV, ViolationKind.SIGNATURE_FAILURES]  # gated
    finally:
        counters._state.client = None
        counters.reset_local()
