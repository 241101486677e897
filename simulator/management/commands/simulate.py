import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from simulator import services
from simulator.clients import port_open
from simulator.engine import DEFAULT_PROVIDERS, parse_faults


class Command(BaseCommand):
    help = (
        "Drive the wallet API over HTTP as several game providers would (slots, live tables, "
        "retries, rollbacks, abandoned sessions, late wins, fraud patterns, faults). "
        "Credentials: --token / --secrets, or in development the demo ones from the database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--rate", type=float, default=5.0, help="HTTP requests per second (all kinds)"
        )
        parser.add_argument(
            "--duration", type=float, default=60.0, help="seconds; 0 runs until Ctrl-C"
        )
        parser.add_argument(
            "--providers",
            default=",".join(DEFAULT_PROVIDERS),
            help="comma-separated provider codes",
        )
        parser.add_argument(
            "--faults",
            default="",
            help="e.g. latency=royale-live:300ms,errors=spinwave:2%%",
        )
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--players", type=int, default=12, help="size of the player pool")
        parser.add_argument("--token", default="", help="staff API token (integrator role)")
        parser.add_argument("--secrets", default="", help="code=secret,code2=secret2")
        parser.add_argument("--no-fraud", action="store_true", help="skip the fraud patterns")
        parser.add_argument(
            "--no-report", action="store_true", help="post no provider reconciliation report"
        )
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            help="seconds to wait for the web server to answer first (for `make run`)",
        )

    def handle(self, *args, **o):
        try:
            faults = parse_faults(o["faults"])
            secrets = services.parse_secrets(o["secrets"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        if o["rate"] <= 0:
            raise CommandError("--rate must be above 0")
        if o["duration"] < 0:
            raise CommandError("--duration must be 0 (forever) or more")
        providers = [code.strip() for code in o["providers"].split(",") if code.strip()]
        if not providers:
            raise CommandError("--providers names no provider")
        self._wait_for(o["base_url"], o["wait"])
        try:
            config = services.build_config(
                base_url=o["base_url"],
                token=o["token"] or None,
                secrets=secrets,
                providers=providers,
                rate=o["rate"],
                duration=o["duration"],
                faults=faults,
                seed=o["seed"],
                players=o["players"],
                fraud=not o["no_fraud"],
                report=not o["no_report"],
                progress=not o["no_progress"],
            )
        except services.NotConfigured as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"simulating {', '.join(providers)} against {config.base_url} at {config.rate:g} "
            f"req/s for {'ever' if not config.duration else f'{config.duration:g}s'}; "
            f"faults: {faults.describe()}"
        )
        # SIGTERM (make run stopping) ends the run like Ctrl-C: sessions closed, summary shown.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            summary = services.run_simulation(config, out=sys.stderr)
        except ValueError as error:
            raise CommandError(str(error)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        for line in summary.lines():
            self.stdout.write(line)

    def _wait_for(self, base_url: str, seconds: float) -> None:
        import time

        deadline = time.monotonic() + seconds
        while not port_open(base_url):
            if time.monotonic() >= deadline:
                if seconds:
                    raise CommandError(f"{base_url} did not answer within {seconds:g}s")
                raise CommandError(f"{base_url} does not answer: is the web server running?")
            time.sleep(0.5)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
