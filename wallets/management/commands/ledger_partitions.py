from django.core.management.base import BaseCommand, CommandError

from wallets import partitions
from wallets.money import display_amount


class Command(BaseCommand):
    help = (
        "The ledger's monthly partitions: `ensure` creates the months ahead (what the daily "
        "beat job does), `status` lists the partitions, `prune-keys` deletes idempotency keys "
        "past the retry horizon (daily beat job), `archive NAME` detaches the oldest partition "
        "once past the retry horizon, exports it and verifies the export, `drop NAME` drops an "
        "archived partition whose export was verified."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "action",
            nargs="?",
            default="status",
            choices=["ensure", "status", "prune-keys", "archive", "drop"],
        )
        parser.add_argument("partition", nargs="?", help="archive, drop: the partition's name")
        parser.add_argument("--months-ahead", type=int, help="ensure: months after this one")

    def handle(self, *args, action, partition, months_ahead, **options):
        if action in ("archive", "drop"):
            if not partition:
                raise CommandError(f"{action}: name the partition (see `ledger_partitions status`)")
            try:
                if action == "archive":
                    archive = partitions.archive_partition(partition)
                    self.stdout.write(
                        f"{partition} detached and exported to {archive.file}: "
                        f"{archive.rows} rows, SHA-256 {archive.sha256}, verified"
                    )
                    for currency, figures in archive.sums.items():
                        self.stdout.write(
                            f"  {currency}: {figures['rows']} rows, "
                            f"{display_amount(figures['delta_minor'], currency, signed=True)} net"
                        )
                else:
                    partitions.drop_archived_partition(partition)
                    self.stdout.write(f"{partition} dropped (its verified export stays)")
            except partitions.ArchiveRefused as refused:
                raise CommandError(str(refused)) from refused
        elif action == "ensure":
            if months_ahead is not None and months_ahead < 1:
                raise CommandError("--months-ahead must be at least 1")
            status = partitions.ensure_ledger_partitions(months_ahead=months_ahead)
            for name in status.created:
                self.stdout.write(f"created {name}")
            self.stdout.write(
                f"{status.future_months} future month(s) ready, up to {status.last_bound}"
            )
            if status.short:
                raise CommandError("fewer than two future months of partitions", returncode=1)
        elif action == "prune-keys":
            deleted = partitions.prune_idempotency_keys()
            self.stdout.write(f"{deleted} idempotency key(s) deleted")
        else:
            for row in partitions.partition_list():
                self.stdout.write(
                    f"{row.name:40} {row.bounds:70} ~{row.estimated_rows:,} rows, {row.size}"
                )
            self.stdout.write(f"{partitions.future_months()} future month(s) ready")
