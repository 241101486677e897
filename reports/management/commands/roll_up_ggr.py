from datetime import date

from django.core.management.base import BaseCommand, CommandError

from reports import services


class Command(BaseCommand):
    help = (
        "Roll the ledger up into daily GGR: incremental by default (what changed since the "
        "watermark), or every provider's days --from .. --to (UTC, inclusive) recomputed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", help="first UTC day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", help="last UTC day, YYYY-MM-DD (default: --from)")

    def handle(self, *args, start=None, end=None, **options):
        if end and not start:
            raise CommandError("--to needs --from")
        if start:
            try:
                first = date.fromisoformat(start)
                last = date.fromisoformat(end) if end else first
            except ValueError as error:
                raise CommandError(f"dates are YYYY-MM-DD: {error}") from None
            result = services.reroll_days(start=first, end=last)
        else:
            result = services.roll_up()
        self.stdout.write(
            f"{result.groups} provider-days re-rolled, {result.rows} roll-up rows written in "
            f"{result.seconds} s; ledger rows up to #{result.last_id} included"
        )
