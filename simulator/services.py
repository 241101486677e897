"""Running the simulator from inside the project: credentials from the project's own database
(development only), then the HTTP-only engine (simulator.engine).
"""

import os

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from simulator.engine import DEFAULT_PROVIDERS, Faults, SimulationConfig, Simulator, Summary

DEMO_STAFF_USER = "integrator"


class NotConfigured(Exception):
    """Credentials are missing and cannot be taken from the database outside development."""


def default_base_url() -> str:
    """Where the Celery task points the simulator: PITBOSS_SIMULATOR_URL, else the local web."""
    return os.environ.get("PITBOSS_SIMULATOR_URL") or "http://127.0.0.1:8000"


def demo_token(username: str = DEMO_STAFF_USER) -> str:
    """The DRF token of the demo integrator (created if needed). Development only: it gives
    whoever runs the simulator that user's API access without a password."""
    if not settings.DEVELOPMENT:
        raise NotConfigured("outside development, pass a staff API token (--token)")
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotConfigured(
            f"no user {username!r}: run `manage.py seed_demo` first, or pass --token"
        )
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def demo_secrets(codes: list[str]) -> dict[str, str]:
    """Each provider's newest usable HMAC secret, decrypted from the database, as
    seed_demo prints them. Development only: secrets never leave the database otherwise."""
    if not settings.DEVELOPMENT:
        raise NotConfigured("outside development, pass the provider secrets (--secrets)")
    from wallets import crypto
    from wallets.choices import CredentialKind
    from wallets.models import ProviderCredential

    now = timezone.now()
    secrets = {}
    for code in codes:
        credential = (
            ProviderCredential.objects.filter(
                provider__code=code, kind=CredentialKind.HMAC, revoked_at__isnull=True
            )
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .order_by("-created_at", "-pk")
            .first()
        )
        if credential is None:
            raise NotConfigured(f"provider {code!r} has no usable secret: run seed_demo first")
        secrets[code] = crypto.decrypt_secret(credential.secret_ciphertext).decode()
    return secrets


def demo_key_path(code: str):
    """Where seed_demo keeps a demo provider's private signing key (a protocol whose provider
    signs with its own key, as Hub88 does): under the data folder, never in the repository,
    one per database (a test database's demo provider has its own)."""
    from django.db import connection

    return settings.DATA_DIR / "demo-keys" / f"{connection.settings_dict['NAME']}-{code}.pem"


def demo_protocol_credential(code: str) -> str:
    """What a demo provider of another protocol signs with: its private key (Hub88) or its
    shared secret. Development only."""
    if not settings.DEVELOPMENT:
        raise NotConfigured("outside development, pass the provider's key or secret")
    from wallets.choices import ProviderProtocol
    from wallets.models import Provider

    protocol = Provider.objects.filter(code=code).values_list("protocol", flat=True).first()
    if protocol is None:
        raise NotConfigured(f"no provider {code!r}: run seed_demo first")
    if protocol == ProviderProtocol.HUB88:
        path = demo_key_path(code)
        if not path.exists():
            raise NotConfigured(f"no demo key at {path}: run seed_demo first")
        return path.read_text()
    return demo_secrets([code])[code]


def parse_secrets(text: str) -> dict[str, str]:
    """`code=secret,code2=secret2` -> {code: secret}."""
    secrets = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        code, sep, secret = item.partition("=")
        if not sep or not code or not secret:
            raise ValueError(f"--secrets item {item!r}: expected code=secret")
        secrets[code.strip()] = secret.strip()
    return secrets


def build_config(
    *,
    base_url: str,
    token: str | None = None,
    secrets: dict[str, str] | None = None,
    providers: list[str] | None = None,
    **options,
) -> SimulationConfig:
    """A complete configuration: missing credentials are taken from the database
    (development only; NotConfigured otherwise)."""
    providers = providers or list(DEFAULT_PROVIDERS)
    secrets = dict(secrets or {})
    missing = [code for code in providers if code not in secrets]
    if missing:
        secrets.update(demo_secrets(missing))
    if "protocol_providers" not in options and settings.DEVELOPMENT:
        options["protocol_providers"] = demo_protocol_providers()
    return SimulationConfig(
        base_url=base_url,
        token=token or demo_token(),
        secrets=secrets,
        providers=providers,
        **options,
    )


def demo_protocol_providers() -> dict[str, tuple[str, str]]:
    """seed_demo's provider of each protocol whose client the simulator has, with what it
    signs with (development only): {code: (protocol, credential)}."""
    from simulator.protocols.kits import KITS
    from wallets.models import Provider

    found = {}
    for code, protocol in Provider.objects.filter(
        protocol__in=list(KITS), code__endswith="-demo"
    ).values_list("code", "protocol"):
        try:
            found[code] = (protocol, demo_protocol_credential(code))
        except NotConfigured:
            continue
    return found


def run_simulation(config: SimulationConfig, out=None) -> Summary:
    """Drive the wallet at `config.base_url` for the configured duration and return what
    happened. Moves money only through the wallet's HTTP APIs."""
    return Simulator(config, out=out).run()


def run_burst(
    *,
    duration: float = 60.0,
    rate: float = 2.0,
    base_url: str | None = None,
    faults: Faults | None = None,
    seed: int | None = None,
) -> Summary:
    """A bounded burst with the database's demo credentials (the Celery task)."""
    config = build_config(
        base_url=base_url or default_base_url(),
        rate=rate,
        duration=max(1.0, float(duration)),
        faults=faults or Faults(),
        seed=seed,
        progress=False,
    )
    return run_simulation(config)
