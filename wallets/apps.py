from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, dispatch_uid="wallets.sync_role_groups")


def _sync_roles(sender, **kwargs) -> None:
    # post_migrate fires once per app; re-applying the role table is cheap and idempotent.
    from wallets.roles import sync_role_groups

    sync_role_groups(apps=kwargs.get("apps"))
