from django.core.management.base import BaseCommand

from wallets import services


class Command(BaseCommand):
    help = (
        "End idle game sessions, release their reservations and apply the open-round policy "
        "(what the beat job does every minute)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--time-budget", type=float, default=600.0, help="seconds")

    def handle(self, *args, batch_size, time_budget, **options):
        run = services.run_session_cleanup(
            batch_size=batch_size, time_budget_seconds=time_budget, triggered_by="command"
        )
        self.stdout.write(
            f"ended {run.sessions_ended} sessions, refunded {run.rounds_refunded} rounds, "
            f"flagged {run.rounds_flagged} rounds in {run.duration_ms} ms"
            + (" (time budget reached: more left for the next run)" if run.incomplete else "")
        )
        for stat in run.stats.select_related("provider"):
            released = ", ".join(f"{c} {m}" for c, m in stat.released_minor.items()) or "-"
            self.stdout.write(
                f"  {stat.provider.code}: expired {stat.sessions_expired}, "
                f"abandoned {stat.sessions_abandoned}, reservations released "
                f"{stat.reservations_released} (minor units: {released}), "
                f"rounds refunded {stat.rounds_refunded}, flagged {stat.rounds_flagged}"
            )
