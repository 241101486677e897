"""Credential lifecycle: Ed25519 public keys (add, sign, revoke), rotation overlap, expiry
policy on issue, who may manage credentials."""

import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tests.compliance.conftest import api_client, post_json
from tests.conftest import WalletApiClient
from wallets import services
from wallets.models import AuditRecord, ProviderCredential

pytestmark = pytest.mark.django_db


def public_hex(private: Ed25519PrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )


def ed_call(private, code, operation, **fields):
    body = json.dumps(fields).encode()
    ts = str(int(time.time()))
    signature = private.sign(f"{ts}./wallet/v1/{operation}.".encode() + body).hex()
    api = WalletApiClient(code, "unused")
    return api.raw(operation, body, timestamp=ts, signature=signature)


def test_ed25519_key_signs_calls_and_a_wrong_key_fails(provider, token):
    private = Ed25519PrivateKey.generate()
    client = api_client("compliance")
    response = post_json(
        client,
        "/api/v1/providers/acme/credentials",
        {"public_key": public_hex(private), "reason": "provider asked for keys"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "ed25519"
    credential = ProviderCredential.objects.get(provider=provider, kind="ed25519")
    assert credential.secret_ciphertext == ""  # the operator stores no secret
    assert body["fingerprint"] == credential.fingerprint

    ok = ed_call(private, "acme", "balance", session_token=token)
    assert ok.status_code == 200, ok.content
    assert ok.json()["balance"] == "100.00"

    wrong = ed_call(Ed25519PrivateKey.generate(), "acme", "balance", session_token=token)
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "INVALID_SIGNATURE"
    # a tampered body fails too
    body_bytes = json.dumps({"session_token": token}).encode()
    ts = str(int(time.time()))
    sig = private.sign(f"{ts}./wallet/v1/balance.".encode() + body_bytes).hex()
    tampered = WalletApiClient("acme", "x").raw(
        "balance", body_bytes + b" ", timestamp=ts, signature=sig
    )
    assert tampered.status_code == 401

    audit = AuditRecord.objects.get(action="provider.credential_add")
    assert audit.actor_label == client.user.username
    assert audit.after["fingerprint"] == credential.fingerprint


def test_pem_key_is_accepted_and_garbage_refused(provider):
    private = Ed25519PrivateKey.generate()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    client = api_client("integrator")
    assert (
        post_json(client, "/api/v1/providers/acme/credentials", {"public_key": pem}).status_code
        == 201
    )
    again = post_json(client, "/api/v1/providers/acme/credentials", {"public_key": pem})
    assert again.status_code == 409
    bad = post_json(client, "/api/v1/providers/acme/credentials", {"public_key": "abc"})
    assert bad.status_code == 400
    assert ProviderCredential.objects.filter(provider=provider, kind="ed25519").count() == 1


def test_revoke_stops_the_key_at_once(provider, token):
    private = Ed25519PrivateKey.generate()
    credential = services.add_provider_credential(provider=provider, public_key=public_hex(private))
    assert ed_call(private, "acme", "balance", session_token=token).status_code == 200
    client = api_client("compliance")
    url = f"/api/v1/providers/acme/credentials/{credential.fingerprint}/revoke"
    assert post_json(client, url, {}).status_code == 400  # a reason is required
    response = post_json(client, url, {"reason": "key leaked"})
    assert response.status_code == 200, response.content
    assert response.json()["revoked_at"]
    assert ed_call(private, "acme", "balance", session_token=token).status_code == 401
    assert post_json(client, url, {"reason": "again"}).status_code == 409
    audit = AuditRecord.objects.get(action="provider.credential_revoke")
    assert audit.reason == "key leaked"


@pytest.mark.parametrize("group", ["back_office", "support"])
def test_only_credential_managers_add_or_revoke(provider, group):
    client = api_client(group)
    key = public_hex(Ed25519PrivateKey.generate())
    assert (
        post_json(client, "/api/v1/providers/acme/credentials", {"public_key": key}).status_code
        == 403
    )
    fingerprint = ProviderCredential.objects.get(provider=provider).fingerprint
    url = f"/api/v1/providers/acme/credentials/{fingerprint}/revoke"
    assert post_json(client, url, {"reason": "x"}).status_code == 403
    assert ProviderCredential.objects.filter(revoked_at__isnull=False).count() == 0


def test_rotation_overlap_accepts_both_then_only_the_new(provider_and_secret, token):
    provider, old_secret = provider_and_secret
    new_secret = services.rotate_provider_secret(provider=provider, reason="yearly")
    old_api, new_api = WalletApiClient("acme", old_secret), WalletApiClient("acme", new_secret)
    assert old_api.call("balance", session_token=token).status_code == 200
    assert new_api.call("balance", session_token=token).status_code == 200
    old = ProviderCredential.objects.filter(provider=provider).earliest("pk")
    assert timedelta(minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=1)
    old.expires_at = timezone.now()
    old.save(update_fields=["expires_at"])  # the overlap ends (the save drops the cache)
    assert old_api.call("balance", session_token=token).status_code == 401
    assert new_api.call("balance", session_token=token).status_code == 200


def test_expiry_policy_applies_to_issued_credentials(set_policy):
    set_policy(max_credential_lifetime_days=30, issue_with_expiry=True)
    provider, _ = factories.make_provider("fresh")
    credential = ProviderCredential.objects.get(provider=provider)
    lifetime = credential.expires_at - timezone.now()
    assert timedelta(days=29, hours=23) < lifetime <= timedelta(days=30)
    key = services.add_provider_credential(
        provider=provider, public_key=public_hex(Ed25519PrivateKey.generate())
    )
    assert key.expires_at is not None
    set_policy(provider, issue_with_expiry=False)
    services.rotate_provider_secret(provider=provider)
    assert ProviderCredential.objects.filter(provider=provider).latest("pk").expires_at is None


def test_admin_adds_and_revokes_a_key(client, provider):
    user = factories.UserFactory(groups=["compliance"])
    client.force_login(user)
    private = Ed25519PrivateKey.generate()
    add = client.post(
        reverse("admin:wallets_providercredential_add"),
        {"provider": provider.pk, "public_key": public_hex(private), "reason": "onboarding"},
    )
    assert add.status_code == 302, add.content[:2000]
    credential = ProviderCredential.objects.get(kind="ed25519")
    client.post(
        reverse("admin:wallets_providercredential_changelist"),
        {
            "action": "revoke_credentials",
            "_selected_action": [credential.pk],
            "apply": "1",
            "reason": "rotated out",
        },
    )
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    support = factories.UserFactory(groups=["support"])
    client.force_login(support)
    assert client.get(reverse("admin:wallets_providercredential_add")).status_code == 403
