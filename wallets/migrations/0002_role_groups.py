"""Create the four staff groups (back_office, compliance, support, integrator).

Permissions are created at the end of a migrate run, after this migration; so they are created
here first for the apps already migrated. wallets.roles is the one table of who may do what;
post_migrate re-applies it after every migrate (for apps that migrate later).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_role_groups(apps, schema_editor):
    from wallets.roles import sync_role_groups

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_role_groups(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
