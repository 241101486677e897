from django.core.management.base import BaseCommand

from monitoring import services


class Command(BaseCommand):
    help = (
        "Run the alert rules once (what the beat job does every 30 s): open, fire and resolve "
        "alerts, apply auto-protection, send due notifications."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-deliver", action="store_true", help="queue notifications, do not send them"
        )

    def handle(self, *args, no_deliver, **options):
        result = services.evaluate_alerts(deliver=not no_deliver)
        self.stdout.write(
            f"evaluated {result.evaluated} conditions: {len(result.pending)} pending, "
            f"{len(result.fired)} fired, {len(result.resolved)} resolved, {result.dropped} "
            f"blips dropped; protected {', '.join(result.protected) or 'none'}; "
            f"{result.deliveries} notifications sent"
        )
