"""The four staff roles and what each may do: one table, used by the admin and the API alike.

A data migration creates the groups; after every migrate the table is applied again
(AppConfig.ready connects `sync_role_groups` to post_migrate), so permissions of apps that
migrate later are attached too. Permissions are added, never silently removed from a group an
operator edited.
"""

VIEW_CORE = [
    "wallets.view_player",
    "wallets.view_wallet",
    "wallets.view_provider",
    "wallets.view_transaction",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "back_office": [
        *VIEW_CORE,
        "wallets.view_gamesession",
        "wallets.view_round",
        "wallets.view_auditrecord",
    ],
    "compliance": [
        *VIEW_CORE,
        "wallets.view_gamesession",
        "wallets.view_providercredential",
        "wallets.view_auditrecord",
        "wallets.change_provider_status",
        "wallets.rotate_provider_secret",
        "wallets.change_provider",
        "wallets.block_player",
    ],
    "support": [
        *VIEW_CORE,
        "wallets.view_gamesession",
        "wallets.view_round",
        "wallets.close_game_session",
    ],
    "integrator": [
        *VIEW_CORE,
        "wallets.add_provider",
        "wallets.rotate_provider_secret",
        "wallets.add_player",
        "wallets.add_gamesession",
        "wallets.post_payment",
    ],
}


def sync_role_groups(apps=None, **kwargs) -> None:
    """Create the role groups and give them the permissions of ROLE_PERMISSIONS that exist."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = {tuple(name.split(".", 1)) for name in names}
        found = Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted},
            codename__in={code for _, code in wanted},
        ).select_related("content_type")
        group.permissions.add(
            *[p for p in found if (p.content_type.app_label, p.codename) in wanted]
        )
