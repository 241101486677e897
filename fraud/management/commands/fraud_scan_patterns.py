from django.core.management.base import BaseCommand

from fraud import services


class Command(BaseCommand):
    help = (
        "Run the fraud pattern jobs over recent activity (many accounts from one IP, bonus "
        "farming), as the beat schedules do."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            choices=["multi_account_ip", "bonus_farming"],
            help="run one job only",
        )

    def handle(self, *args, only=None, **options):
        results = {}
        if only in (None, "multi_account_ip"):
            results["multi_account_ip"] = services.scan_multi_account_ips()
        if only in (None, "bonus_farming"):
            results["bonus_farming"] = services.scan_bonus_farming()
        for key, flagged in results.items():
            self.stdout.write(f"{key}: {flagged} flagged")
