"""Staff search players by part of their external id without reading every player: a trigram
index (PostgreSQL's pg_trgm, a trusted extension: the database owner may create it) of the
upper-cased id, which answers Django's icontains; and by registration address, exact. Both
built concurrently: registrations go on."""

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("wallets", "0025_ledger_rare_kinds_index")]

    operations = [
        TrigramExtension(),
        AddIndexConcurrently(
            model_name="player",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper(
                        django.db.models.functions.comparison.Cast(
                            "external_id", output_field=models.TextField()
                        )
                    ),
                    name="gin_trgm_ops",
                ),
                name="player_external_id_trgm",
            ),
        ),
        AddIndexConcurrently(
            model_name="player",
            index=models.Index(
                condition=models.Q(("registration_ip__isnull", False)),
                fields=["registration_ip"],
                name="player_by_registration_ip",
            ),
        ),
    ]
