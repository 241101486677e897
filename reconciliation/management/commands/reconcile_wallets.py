import sys

from django.core.management.base import BaseCommand

from reconciliation import services


class Command(BaseCommand):
    help = (
        "Compare wallets' cached balance and reserved with the ledger: the wallets written "
        "since the last run (what the beat job does every 2 minutes), or every wallet (--full)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="check every wallet")
        parser.add_argument("--chunk-size", type=int, default=services.DEFAULT_CHUNK_SIZE)

    def handle(self, *args, full, chunk_size, **options):
        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // total if total else width
            percent = 100 * done // total if total else 100
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} wallets {percent}%"
            )
            if done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()

        run = services.reconcile_wallets(
            full=full, chunk_size=chunk_size, progress=progress, triggered_by="command"
        )
        drift = ", ".join(f"{k} {v}" for k, v in run.counts.items() if k != "matched")
        self.stdout.write(
            f"run #{run.pk} ({run.kind}): {run.wallets_checked} wallets checked, "
            f"{run.counts.get('matched', 0)} matched, {drift}; "
            f"{run.discrepancies_opened} discrepancies opened, "
            f"{run.discrepancies_cleared} pending cleared, {run.pending} still pending, "
            f"{run.duration_ms} ms"
        )
