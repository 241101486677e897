from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from simulator.clients import Connection, StaffClient, WalletClient
from simulator.conformance import FAIL, PASS, SKIP, Abort, ConformanceKit, launch_sessions
from simulator.protocols import kits
from simulator.protocols.base import LaunchFailed, StaffSeats


class Command(BaseCommand):
    help = (
        "Run a wallet protocol's edge cases against a wallet over HTTP and print PASS/FAIL per "
        "rule; exits non-zero on any failure. --protocol native (the default: the contract of "
        "docs/wallet-api.md) needs a provider code and secret, and session tokens "
        "(--session-token T1,T2) or --launch with a staff token; the other protocols "
        "(docs/integrations/) launch their seats through the back-office API (--launch) and "
        "need the provider's signing key or secret. In development, missing credentials are "
        "taken from this project's database and demo keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", required=True)
        parser.add_argument(
            "--protocol",
            default="native",
            choices=["native", *kits.KITS],
            help="the wallet protocol to check (default native)",
        )
        parser.add_argument(
            "--private-key",
            default="",
            help="hub88: a PEM file of the RSA private key whose public key the provider has",
        )
        parser.add_argument("--provider", default="stellar-slots", help="X-Provider-Code")
        parser.add_argument("--secret", default="", help="the provider's HMAC secret")
        parser.add_argument(
            "--session-token",
            default="",
            help="launched session tokens, comma-separated (two: the second gets closed)",
        )
        parser.add_argument(
            "--launch", action="store_true", help="launch two sessions via the back-office API"
        )
        parser.add_argument("--token", default="", help="staff API token, for --launch")
        parser.add_argument(
            "--closer-token",
            default="",
            help="a support agent's API token: the protocol kits end a session with it to "
            "check what is still accepted afterwards (without one those cases are skipped)",
        )
        parser.add_argument("--player", type=int, default=None, help="player id for --launch")
        parser.add_argument("--currency", default="EUR", help="currency for --launch")
        parser.add_argument(
            "--rounding-mode",
            action="store_true",
            help="the provider's profile names a rounding mode (skips the too-many-decimals rule)",
        )
        parser.add_argument(
            "--only",
            default="",
            help="comma-separated rule-name prefixes to run, e.g. timestamp,rollback",
        )
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args, **o):
        if o["protocol"] != "native":
            return self._protocol(o)
        secret = o["secret"] or self._from_database("secret", o)
        tokens = [t.strip() for t in o["session_token"].split(",") if t.strip()]
        if not tokens:
            if not o["launch"]:
                raise CommandError("give --session-token T1[,T2] or --launch")
            staff = StaffClient(o["base_url"], o["token"] or self._from_database("token", o))
            try:
                tokens = launch_sessions(
                    staff, provider=o["provider"], currency=o["currency"], player_id=o["player"]
                )
            except Abort as error:
                raise CommandError(str(error)) from None
            finally:
                staff.close()
        client = WalletClient(o["base_url"], o["provider"], secret, timeout=o["timeout"])
        style = {PASS: self.style.SUCCESS, FAIL: self.style.ERROR, SKIP: self.style.WARNING}

        def report(result):
            verdict = style[result.verdict](f"{result.verdict:<4}")
            self.stdout.write(f"{verdict}  {result.rule:<36} {result.detail}")

        only = [p.strip() for p in o["only"].split(",") if p.strip()]
        kit = ConformanceKit(
            client, tokens, rounding_mode=o["rounding_mode"], report=report, only=only
        )
        try:
            results = kit.run()
        finally:
            client.close()
        counts = {v: sum(1 for r in results if r.verdict == v) for v in (PASS, FAIL, SKIP)}
        self.stdout.write(
            f"\n{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
            f"({len(results)} rules) against {o['base_url']} as {o['provider']}"
        )
        if counts[FAIL]:
            raise CommandError(f"{counts[FAIL]} rule(s) failed", returncode=1)

    def _report(self, result) -> None:
        style = {PASS: self.style.SUCCESS, FAIL: self.style.ERROR, SKIP: self.style.WARNING}
        verdict = style[result.verdict](f"{result.verdict:<4}")
        self.stdout.write(f"{verdict}  {result.rule:<40} {result.detail}")

    def _protocol(self, o: dict) -> None:
        from simulator import services

        protocol = o["protocol"]
        code = o["provider"] if o["provider"] != "stellar-slots" else f"{protocol}-demo"
        key = o["private_key"] and Path(o["private_key"]).read_text()
        try:
            credentials = key or o["secret"] or services.demo_protocol_credential(code)
        except services.NotConfigured as error:
            raise CommandError(f"--private-key or --secret is required: {error}") from None
        staff = StaffClient(o["base_url"], o["token"] or self._from_database("token", o))
        closer_token = o["closer_token"] or self._support_token()
        closer = StaffClient(o["base_url"], closer_token) if closer_token else None
        connection = Connection(o["base_url"], o["timeout"])
        try:
            launcher = StaffSeats(staff, closer=closer)
            try:
                # Two seats of one player, and one more player where the kit needs them.
                seats = launcher.launch(code, o["currency"])
                for _ in range(getattr(kits.KITS[protocol][1], "players", 1) - 1):
                    seats += launcher.launch(code, o["currency"], count=1)
            except LaunchFailed as error:
                raise CommandError(str(error)) from None
            only = tuple(p.strip() for p in o["only"].split(",") if p.strip())
            kit = kits.build(
                protocol, connection, code, credentials, seats, report=self._report, only=only
            )
            kit.end_session = launcher.end_session
            results = kit.run()
        finally:
            connection.close()
            staff.close()
            if closer is not None:
                closer.close()
        counts = {v: sum(1 for r in results if r.verdict == v) for v in (PASS, FAIL, SKIP)}
        self.stdout.write(
            f"\n{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
            f"({len(results)} cases) against {o['base_url']} as {code} ({protocol})"
        )
        if counts[FAIL]:
            raise CommandError(f"{counts[FAIL]} case(s) failed", returncode=1)

    def _support_token(self) -> str:
        """In development, the demo support agent's token (who may close sessions)."""
        from simulator import services

        try:
            return services.demo_token("support")
        except services.NotConfigured:
            return ""

    def _from_database(self, what: str, o: dict) -> str:
        from simulator import services

        try:
            if what == "secret":
                return services.demo_secrets([o["provider"]])[o["provider"]]
            return services.demo_token()
        except services.NotConfigured as error:
            flag = "--secret" if what == "secret" else "--token"
            raise CommandError(f"{flag} is required: {error}") from None
