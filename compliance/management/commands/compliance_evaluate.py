from django.core.management.base import BaseCommand

from compliance import services


class Command(BaseCommand):
    help = (
        "Run the security-compliance job once: credential lifetime checks, folding of counted "
        "repeats, and the policy's automatic restrictions and suspensions."
    )

    def handle(self, *args, **options):
        result = services.run_evaluation()
        self.stdout.write(
            f"credential violations: {result.credential_violations}, "
            f"repeats folded: {result.repeats_folded}, "
            f"restricted: {', '.join(result.restricted) or '-'}, "
            f"suspended: {', '.join(result.suspended) or '-'}"
        )
