import sys

from django.core.management.base import BaseCommand, CommandError

from reconciliation import services


class Command(BaseCommand):
    help = (
        "Verify the ledger's hash chains: each wallet's rows written since its last check "
        "(what the hourly beat job does), or every wallet from its first row (--full, daily). "
        "A broken chain is named by its first broken row, opens a discrepancy, and makes the "
        "command exit non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="every row of every wallet")
        parser.add_argument("--wallet", type=int, action="append", help="only this wallet")

    def handle(self, *args, full, wallet, **options):
        def progress(done: int, total: int) -> None:
            if done % 500 and done != total:
                return
            sys.stderr.write(f"\r{done}/{total} wallets")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

        result = services.verify_ledger(full=full, wallet_ids=wallet, progress=progress)
        self.stdout.write(
            f"{result.wallets} wallets, {result.rows} rows verified in {result.seconds:.1f} s; "
            f"{len(result.broken)} broken"
        )
        if result.broken:
            for row in result.broken:
                self.stdout.write(self.style.ERROR(f"chain broken at ledger row {row}"))
            raise CommandError(f"{len(result.broken)} wallet chain(s) broken", returncode=1)
