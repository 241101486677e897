from django.core.management.base import BaseCommand

from monitoring import services


class Command(BaseCommand):
    help = "Move closed minutes of wallet call metrics from Redis into PostgreSQL roll-ups."

    def handle(self, *args, **options):
        result = services.flush_metrics()
        self.stdout.write(
            f"flushed {result.batches} batches ({result.calls} calls, {result.lost} lost "
            f"observations reported), skipped {result.skipped_batches} already flushed, "
            f"pruned {result.pruned} old rows"
        )
