from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reconciliation import parsing, services
from wallets.errors import WalletError
from wallets.models import Provider


class Command(BaseCommand):
    help = "Reconcile a provider's transaction report (CSV or JSON file) with the ledger."

    def add_arguments(self, parser):
        parser.add_argument("provider", help="provider code")
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", choices=["csv", "json"], default=None)

    def handle(self, *args, provider, path, format, **options):
        try:
            provider_obj = Provider.objects.get(code=provider)
        except Provider.DoesNotExist:
            raise CommandError(f"unknown provider {provider!r}") from None
        report_format = format or ("json" if path.suffix.lower() in (".json", ".jsonl") else "csv")
        with path.open("rb") as stream:
            try:
                rows = parsing.iter_rows(stream, report_format)
            except WalletError as error:
                raise CommandError(error.message) from None
            run = services.reconcile_provider_report(
                provider=provider_obj, rows=rows, report_format=report_format, filename=path.name
            )
        counts = ", ".join(f"{k} {v}" for k, v in run.counts.items())
        self.stdout.write(
            f"run #{run.pk}: {run.rows_total} rows: {counts}; {run.pending} pending, "
            f"{run.discrepancies_opened} discrepancies opened, {run.duration_ms} ms"
        )
