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

# Alert routing: read the tree and the delivery log; set maintenance mute windows. Routes,
# receivers and inhibition rules are an administrator's to change.
ALERT_ROUTING = [
    "monitoring.view_route",
    "monitoring.view_receiver",
    "monitoring.view_inhibitrule",
    "monitoring.view_notificationgroup",
    "monitoring.view_notification",
    "monitoring.view_mutewindow",
    "monitoring.add_mutewindow",
    "monitoring.change_mutewindow",
]

# Player protection: read limits and exclusions, set limits (lowering only unless the role
# also has raise_limit), exclude a player.
PROTECTION = [
    "protection.view_playerlimit",
    "protection.change_playerlimit",
    "protection.view_exclusion",
    "protection.add_exclusion",
]

# Fraud rules: versions, shadow decisions, backtests and lists, read-only.
FRAUD_RULES_READ = [
    "fraud.view_ruleversion",
    "fraud.view_shadowdecision",
    "fraud.view_backtest",
    "fraud.view_fraudlist",
    "fraud.view_listentry",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "back_office": [
        *VIEW_CORE,
        "wallets.view_gamesession",
        "wallets.view_round",
        "wallets.view_auditrecord",
        # fraud: the review queue is back office's (decide, assign), rules are read-only here
        "fraud.view_case",
        "fraud.decide_case",
        "fraud.assign_case",
        "fraud.view_fraudrule",
        "fraud.view_playerrisk",
        "fraud.trust_player",
        "fraud.view_rulehit",
        # the case manager: notes, snoozes from a case (level 2 is given to chosen users)
        "fraud.view_casenote",
        "fraud.view_rulesnooze",
        "fraud.snooze_rule",
        # fraud rules: read the versions, shadow results, backtests and lists
        *FRAUD_RULES_READ,
        # monitoring: watch dashboards and alerts, acknowledge/resolve, silence
        "monitoring.view_alert",
        "monitoring.manage_alert",
        "monitoring.view_silence",
        "monitoring.add_silence",
        "monitoring.view_monitoringprofile",
        "monitoring.view_notificationdelivery",
        *ALERT_ROUTING,
        # reconciliation: runs, reports, the discrepancy queue; propose, approve (four eyes)
        "reconciliation.view_reconciliationrun",
        "reconciliation.view_providerreport",
        "reconciliation.view_reportrow",
        "reconciliation.view_discrepancy",
        "reconciliation.view_correctionrequest",
        "reconciliation.propose_correction",
        "reconciliation.approve_correction",
        "reconciliation.close_discrepancy",
        # reports: revenue, provider statements (fees and invoices), balance history
        "reports.view_ggr_report",
        "reports.view_balance_history",
        "reports.view_providerfee",
        "reports.add_providerfee",
        "reports.view_providerinvoice",
        "reports.add_providerinvoice",
        "reports.change_providerinvoice",
    ],
    # Sessions are listed for support and back office (backoffice-api.md); compliance sees a
    # provider's open-session count on the provider and may kill them all by suspending it.
    "compliance": [
        *VIEW_CORE,
        "wallets.view_providercredential",
        "wallets.view_auditrecord",
        "wallets.change_provider_status",
        "wallets.rotate_provider_secret",
        "wallets.manage_provider_credentials",
        "wallets.change_provider",
        "wallets.block_player",
        # compliance: violations, policies, the provider page
        "compliance.view_securityviolation",
        "compliance.view_providercompliance",
        "compliance.view_globalsecuritypolicy",
        "compliance.change_globalsecuritypolicy",
        "compliance.view_providersecuritypolicy",
        "compliance.add_providersecuritypolicy",
        "compliance.change_providersecuritypolicy",
        "compliance.delete_providersecuritypolicy",
        # fraud: compliance tunes the rules
        "fraud.view_fraudrule",
        "fraud.change_fraudrule",
        "fraud.view_playerrisk",
        "fraud.view_rulehit",
        # drafts, shadow runs, publishing, backtests and the lists
        *FRAUD_RULES_READ,
        "fraud.add_ruleversion",
        "fraud.change_ruleversion",
        "fraud.publish_ruleversion",
        "fraud.add_backtest",
        "fraud.add_fraudlist",
        "fraud.change_fraudlist",
        "fraud.add_listentry",
        "fraud.change_listentry",
        "fraud.delete_listentry",
        # monitoring: alerts as back office, plus the per-provider profiles (auto-protection)
        "monitoring.view_alert",
        "monitoring.manage_alert",
        "monitoring.view_silence",
        "monitoring.add_silence",
        "monitoring.view_monitoringprofile",
        "monitoring.change_monitoringprofile",
        "monitoring.view_notificationdelivery",
        *ALERT_ROUTING,
        # player protection: see limits and exclusions, lower limits, exclude, cooling-off
        *PROTECTION,
        "protection.view_coolingoffperiod",
        "protection.add_coolingoffperiod",
        "protection.change_coolingoffperiod",
        # reports: revenue and provider statements, read-only
        "reports.view_ggr_report",
        "reports.view_providerfee",
        "reports.view_providerinvoice",
    ],
    "support": [
        *VIEW_CORE,
        "wallets.view_gamesession",
        "wallets.view_round",
        "wallets.close_game_session",
        # player protection: as the player asks (an increase waits for the cooling-off)
        *PROTECTION,
        "protection.raise_limit",
        # reports: a player's balance at a past instant and the statement of their movements
        "reports.view_balance_history",
    ],
    "integrator": [
        *VIEW_CORE,
        "wallets.add_provider",
        "wallets.rotate_provider_secret",
        "wallets.manage_provider_credentials",
        "wallets.add_player",
        "wallets.add_gamesession",
        "wallets.post_payment",
        # their own back-office API token, created and rotated in the admin (My API token)
        "authtoken.add_token",
        # player protection: the operator's platform sets what the player chooses
        *PROTECTION,
        "protection.raise_limit",
        # reconciliation: upload provider reports, read the runs
        "reconciliation.add_providerreport",
        "reconciliation.view_providerreport",
        "reconciliation.view_reportrow",
        "reconciliation.view_reconciliationrun",
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
