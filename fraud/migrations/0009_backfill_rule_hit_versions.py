"""Old rule hits get the version that decided them where the version history says it exactly.

A version was live from its `published_at` until its `superseded_at`; the intervals of one
rule never overlap. A hit recorded inside that interval was decided by that version, except
right after a publication: other processes keep the previous version in their rule cache for a
few seconds (fraud.screening.RULE_CACHE_SECONDS), and a pattern job runs on the settings it
read when it started. So a hit within GUARD of a publication, and every hit from before the
rule's first version, keeps a null version ("before versions were recorded" in the rule
statistics). Shadow decisions are not backfilled: whether the rule was enabled (so that its
live version ran beside the shadow) is not part of the version history.
"""

from django.db import migrations

GUARD_SECONDS = 300

BACKFILL_SQL = """
UPDATE fraud_rulehit h SET version_id = v.id
FROM fraud_ruleversion v
JOIN fraud_fraudrule r ON r.id = v.rule_id
WHERE h.version_id IS NULL
  AND r.key = h.rule_key
  AND v.state IN ('live', 'superseded')
  AND v.published_at IS NOT NULL
  AND h.created_at >= v.published_at + make_interval(secs => %(guard)s)
  AND (v.superseded_at IS NULL OR h.created_at < v.superseded_at)
"""


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKFILL_SQL, {"guard": GUARD_SECONDS})


class Migration(migrations.Migration):
    dependencies = [("fraud", "0008_rule_hit_and_shadow_live_version")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
