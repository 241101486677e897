from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, dispatch_uid="wallets.sync_role_groups")
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from wallets import login_throttle

        user_login_failed.connect(login_throttle.on_login_failed, dispatch_uid="wallets.login_fail")
        user_logged_in.connect(login_throttle.on_logged_in, dispatch_uid="wallets.login_ok")


def _sync_roles(sender, **kwargs) -> None:
    # post_migrate fires once per app; re-applying the role table is cheap and idempotent.
    from wallets.roles import sync_role_groups

    sync_role_groups(apps=kwargs.get("apps"))
