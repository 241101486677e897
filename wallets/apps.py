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
    # post_migrate fires once per app with models, in INSTALLED_APPS order, each app's permissions
    # created just before its signal. The role table names permissions of many apps: apply it once,
    # after the last app (a test database is flushed, and this signal sent, before many tests).
    from django.apps import apps as installed

    last = [config for config in installed.get_app_configs() if config.models_module][-1]
    if sender.label != last.label:
        return
    from wallets.roles import sync_role_groups

    sync_role_groups(apps=kwargs.get("apps"))
