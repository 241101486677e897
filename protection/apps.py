from django.apps import AppConfig


class ProtectionConfig(AppConfig):
    name = "protection"
    verbose_name = "Player protection"

    def ready(self) -> None:
        # The player's page in the wallets admin shows the limits and exclusions (wallets
        # imports no other app: it asks wallets.hooks for extra inlines).
        from protection.admin import ExclusionInline, PlayerLimitInline
        from wallets import hooks

        for inline in (PlayerLimitInline, ExclusionInline):
            if inline not in hooks.player_page_inlines:
                hooks.player_page_inlines.append(inline)
