from django.core.management.base import BaseCommand

from protection import services


class Command(BaseCommand):
    help = (
        "Apply limit increases and removals whose cooling-off has ended, and end sessions past "
        "their player's session-time limit (what the protection beat jobs do)."
    )

    def handle(self, *args, **options):
        applied = services.apply_due_limit_changes()
        ended = services.end_sessions_past_time_limit()
        self.stdout.write(f"limit changes applied: {applied}; sessions ended: {ended}")
