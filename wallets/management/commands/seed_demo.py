"""Demo data for `make run`: staff users for each role, providers, players with money.

Idempotent: running it again adds nothing twice and prints the same logins and secrets.
Refuses to run outside development (PITBOSS_ENV=development): demo passwords are public.
"""

import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from wallets import crypto, ledger, services
from wallets.choices import ProviderProtocol
from wallets.models import Player, Provider

DEMO_PASSWORD = "pitboss-demo"
DEMO_STAFF = {
    "admin": None,  # superuser
    "backoffice": "back_office",
    "compliance": "compliance",
    "support": "support",
    "integrator": "integrator",
}
DEMO_PROVIDERS = [
    # code, name, currencies, settings
    ("stellar-slots", "Stellar Slots Studio", ["EUR", "USD"], {}),
    ("royale-live", "Royale Live Casino", ["EUR"], {"idle_timeout_seconds": 600}),
    ("spinwave", "Spinwave Aggregator", ["EUR", "JPY"], {"rounding_mode": "half_even"}),
]
# Protocol options of the demo providers: the Evolution demo answers its test tool's `sid`
# call, so that the conformance kit (and Evolution's own tool) can launch sessions.
DEMO_PROTOCOL_OPTIONS = {ProviderProtocol.EVOLUTION: {"test_launches": True}}
DEMO_PLAYERS = 24


class Command(BaseCommand):
    help = "Create demo staff, providers and funded players (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--players", type=int, default=DEMO_PLAYERS)

    def handle(self, *args, players: int, **options):
        if not settings.DEVELOPMENT:
            raise CommandError("seed_demo runs only with PITBOSS_ENV=development")
        with transaction.atomic():
            self._staff()
            secrets = self._providers()
            protocols = self._protocol_providers()
        self._players(players)
        self._report(secrets, protocols)

    def _staff(self):
        User = get_user_model()
        for username, group in DEMO_STAFF.items():
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": True, "is_superuser": group is None},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))

    def _providers(self) -> dict[str, str]:
        secrets = {}
        for code, name, currencies, extra in DEMO_PROVIDERS:
            provider = Provider.objects.filter(code=code).first()
            if provider is None:
                provider, secret = services.create_provider(
                    code=code, name=name, currencies=currencies, **extra
                )
            else:
                # Development only: the demo prints its own providers' secrets every time.
                credential = provider.credentials.filter(revoked_at__isnull=True).first()
                secret = crypto.decrypt_secret(credential.secret_ciphertext).decode()
            secrets[code] = secret
        return secrets

    def _protocol_providers(self) -> dict[str, str]:
        """One demo provider per protocol other than the native one (`<protocol>-demo`), with
        what it signs with: a shared secret, or for Hub88 a key pair whose private half is
        kept under the data folder for the simulator and the conformance kit."""
        from simulator.protocols.hub88 import new_key_pair
        from simulator.services import demo_key_path
        from wallets.adapters.registry import PROTOCOLS

        shown = {}
        for protocol in PROTOCOLS:
            if protocol == ProviderProtocol.NATIVE:
                continue
            code = f"{protocol}-demo"
            provider = Provider.objects.filter(code=code).first()
            if protocol == ProviderProtocol.HUB88:
                key_path = demo_key_path(code)
                if provider is None or not key_path.exists():
                    private, public = new_key_pair()
                    key_path.parent.mkdir(parents=True, exist_ok=True)
                    key_path.write_text(private)
                    key_path.chmod(0o600)
                    if provider is None:
                        services.create_provider(
                            code=code,
                            name="Hub88 demo aggregator",
                            currencies=["EUR", "USD"],
                            protocol=protocol,
                            public_key=public,
                        )
                    else:
                        services.add_provider_credential(
                            provider=provider, public_key=public, reason="new demo key"
                        )
                shown[code] = f"RSA private key in {key_path}"
                continue
            if provider is None:
                _, secret = services.create_provider(
                    code=code,
                    name=f"{protocol.title()} demo",
                    currencies=["EUR", "USD"],
                    protocol=protocol,
                    protocol_options=DEMO_PROTOCOL_OPTIONS.get(protocol),
                )
            else:
                credential = provider.credentials.filter(revoked_at__isnull=True).first()
                secret = crypto.decrypt_secret(credential.secret_ciphertext).decode()
            shown[code] = secret
        return shown

    def _players(self, count: int):
        rng = random.Random(7)
        for number in range(1, count + 1):
            external_id = f"demo-player-{number:03d}"
            if Player.objects.filter(external_id=external_id).exists():
                continue
            currency = "JPY" if number % 8 == 0 else "EUR"
            player = services.create_player(
                external_id=external_id,
                currency=currency,
                country=rng.choice(["MT", "DE", "SE", "GB", "JP" if currency == "JPY" else "FI"]),
                registration_ip=f"198.51.100.{number}",
            )
            amount_minor = rng.randrange(50, 2_000) * (1 if currency == "JPY" else 100)
            if currency == "JPY":
                amount_minor *= 100
            ledger.deposit(
                player=player,
                currency=currency,
                amount_minor=amount_minor,
                external_id=f"demo-deposit-{number:03d}",
            )

    def _report(self, secrets: dict[str, str], protocols: dict[str, str]):
        out = self.stdout.write
        out(self.style.SUCCESS("Demo data ready."))
        out(f"  Admin login: admin / {DEMO_PASSWORD} (superuser)")
        out(
            "  Role logins: "
            + ", ".join(f"{u} / {DEMO_PASSWORD}" for u, g in DEMO_STAFF.items() if g)
        )
        out("  Demo provider secrets (X-Provider-Code / HMAC secret):")
        for code, secret in secrets.items():
            out(f"    {code:<15} {secret}")
        if protocols:
            out("  Demo providers of other protocols (/wallet/<protocol>/<code>/...):")
            for code, credential in protocols.items():
                out(f"    {code:<15} {credential}")
