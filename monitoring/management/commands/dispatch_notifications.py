from django.core.management.base import BaseCommand

from monitoring import routing


class Command(BaseCommand):
    help = (
        "Route, group, inhibit and send alert notifications once (what the beat job does every "
        "30 s; see monitoring/routing.py)."
    )

    def handle(self, *args, **options):
        result = routing.dispatch_notifications()
        self.stdout.write(
            f"flushed {result.groups} groups: {len(result.queued)} notifications queued, "
            f"{result.sent} sent; {len(result.inhibited)} alerts inhibited, "
            f"{len(result.silenced)} silenced; {len(result.muted)} held by a mute window"
        )
