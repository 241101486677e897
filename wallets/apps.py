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

        from django.db.models.signals import post_delete, post_save

        from wallets.models import Provider, ProviderCredential

        for model in (Provider, ProviderCredential):
            for signal in (post_save, post_delete):
                signal.connect(
                    _provider_changed,
                    sender=model,
                    dispatch_uid=f"wallets.provider_cache.{model.__name__}.{id(signal)}",
                )


def _provider_changed(sender, **kwargs) -> None:
    # At once, and again at commit: a call between the two could have cached the old rows.
    from django.db import transaction

    from wallets.adapters.credentials import forget_providers

    forget_providers()
    transaction.on_commit(forget_providers)


def _sync_roles(sender, **kwargs) -> None:
    # post_migrate fires once per app; re-applying the role table is cheap and idempotent.
    from wallets.roles import sync_role_groups

    sync_role_groups(apps=kwargs.get("apps"))
