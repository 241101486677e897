"""Admin of the fraud app: the rules (editable, audited), the review queue (read-only rows,
decisions only through actions that call fraud.services), player risk and the player's context
page."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from fraud import case_pages, selectors, services
from fraud.choices import (
    APPROVE_OUTCOMES,
    APPROVE_REASONS,
    REJECT_OUTCOMES,
    REJECT_REASONS,
    CaseOutcome,
    DecisionReason,
    RuleKind,
)
from fraud.models import Case, CaseNote, FraudRule, PlayerBaseline, PlayerRisk, RuleHit, RuleSnooze
from wallets.admin_actions import STRICT_JSON_FORMFIELDS, ReadOnlyAdminMixin, reason_action
from wallets.admin_display import ReadableJSONMixin, money, readable_table
from wallets.errors import WalletError
from wallets.models import Player

# --- rules ----------------------------------------------------------------------------------


@admin.register(FraudRule)
class FraudRuleAdmin(admin.ModelAdmin):
    formfield_overrides = STRICT_JSON_FORMFIELDS
    list_display = [
        "key",
        "name",
        "enabled",
        "action",
        "risk_points",
        "four_eyes_minor",
        "updated_at",
    ]
    list_filter = ["enabled", "action"]
    list_editable = []
    readonly_fields = ["key", "updated_at", "parameter_help"]
    fields = [
        "key",
        "name",
        "enabled",
        "action",
        "parameters",
        "parameter_help",
        "risk_points",
        "four_eyes_minor",
        "description",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False  # one rule per kind, seeded; disable a rule instead of deleting it

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="parameters of this kind")
    def parameter_help(self, rule):
        from fraud.rules import PARAMETERS

        schema = PARAMETERS.get(rule.key, {})
        items = format_html_join(
            "",
            "<li><code>{}</code> (default {}): {}</li>",
            ((name, param.default, param.help) for name, param in schema.items()),
        )
        return format_html("<ul>{}</ul>", items)

    def save_model(self, request, obj, form, change):
        before = {name: form.initial.get(name) for name in form.changed_data}
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            services.record_rule_audit(rule=obj, actor=request.user, before=before)


# --- the review queue -----------------------------------------------------------------------


class DecisionForm(forms.Form):
    reason_code = forms.ChoiceField(choices=DecisionReason.choices)
    outcome = forms.ChoiceField(choices=CaseOutcome.choices)
    note = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), strip=True)


def _decision_form(approve: bool):
    """The bulk decision's form: only the reasons and outcomes that fit the decision."""
    reasons = APPROVE_REASONS if approve else REJECT_REASONS
    outcomes = APPROVE_OUTCOMES if approve else REJECT_OUTCOMES
    reason_labels, outcome_labels = dict(DecisionReason.choices), dict(CaseOutcome.choices)

    class Form(DecisionForm):
        reason_code = forms.ChoiceField(choices=[(r.value, reason_labels[r]) for r in reasons])
        outcome = forms.ChoiceField(
            choices=[
                ("", "from the reason code"),
                *((o.value, outcome_labels[o]) for o in outcomes),
            ],
            required=False,
            help_text="Empty: a rejection is confirmed fraud, an approval for a legitimate "
            "pattern a false positive, any other approval legitimate.",
        )

    Form.__name__ = "ApproveForm" if approve else "RejectForm"
    return Form


def decision_action(*, name: str, description: str, approve: bool):
    """Bulk approve or reject: asks for a reason code that fits the decision, the outcome and a
    note, then decides each selected case through fraud.services (refusals are reported per
    case)."""
    form_class = _decision_form(approve)

    def action(modeladmin, request, queryset):
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            decide = services.approve_case if approve else services.reject_case
            done = 0
            for case in queryset:
                try:
                    result = decide(case_id=case.pk, actor=request.user, **form.cleaned_data)
                    done += 1
                    if result.status == "awaiting_second":
                        modeladmin.message_user(
                            request,
                            f"{result}: first approval recorded, a second approver is needed.",
                            messages.WARNING,
                        )
                except WalletError as error:
                    modeladmin.message_user(request, f"{case}: {error.message}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{description}: done for {done}.")
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "objects": list(queryset[:200]),
            "count": queryset.count(),
            "form": form,
            "action_name": name,
            "confirm": "",
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/pitboss/reason_form.html", context)

    action.__name__ = name
    action.reason_form = form_class  # what the confirmation page asks (tests fill it in)
    return admin.action(description=description, permissions=["decide"])(action)


class RuleFilter(admin.SimpleListFilter):
    title = "rule"
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        return RuleKind.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(rule_keys__contains=[self.value()])
        return queryset


class AmountFilter(admin.SimpleListFilter):
    title = "amount (minor units)"
    parameter_name = "amount"
    RANGES = {
        "lt10000": (None, 10_000),
        "10000-100000": (10_000, 100_000),
        "gte100000": (100_000, None),
    }

    def lookups(self, request, model_admin):
        return [
            ("lt10000", "< 10000"),
            ("10000-100000", "10000 to 99999"),
            ("gte100000", "≥ 100000"),
        ]

    def queryset(self, request, queryset):
        low, high = self.RANGES.get(self.value(), (None, None))
        if low is not None:
            queryset = queryset.filter(amount_minor__gte=low)
        if high is not None:
            queryset = queryset.filter(amount_minor__lt=high)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "older than"
    parameter_name = "older_than_hours"

    def lookups(self, request, model_admin):
        return [("1", "1 hour"), ("4", "4 hours"), ("24", "1 day"), ("72", "3 days")]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            since = timezone.now() - timedelta(hours=int(self.value()))
            return queryset.filter(created_at__lt=since)
        return queryset


class RuleHitInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RuleHit
    fields = ["rule_key", "action", "figures", "created_at"]
    readonly_fields = fields
    extra = 0


def _assign_to_me(request, case, reason):
    services.assign_case(case_id=case.pk, actor=request.user, assignee=request.user)


@admin.register(Case)
class CaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "age",
        "kind",
        "status",
        "player_link",
        "request_kind",
        "amount",
        "rules",
        "assigned_to",
        "level",
        "outcome",
    ]
    list_filter = [
        "status",
        "kind",
        "level",
        "outcome",
        RuleFilter,
        AmountFilter,
        AgeFilter,
        "request_kind",
    ]
    search_fields = ["=id", "player__external_id", "=player__id"]
    list_select_related = ["player", "assigned_to"]
    raw_id_fields = ["player", "wallet", "transaction", "provider", "session"]
    inlines = [RuleHitInline]
    show_full_result_count = False
    actions = [
        decision_action(
            name="approve_cases", description="Approve (post held funds)", approve=True
        ),
        decision_action(
            name="reject_cases", description="Reject (release held funds)", approve=False
        ),
        reason_action(
            name="assign_to_me",
            description="Assign to me",
            permission="decide",
            apply=_assign_to_me,
        ),
    ]

    def has_decide_permission(self, request):
        return request.user.has_perm("fraud.decide_case")

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, case):
        return case_pages.money(case.amount_minor, case.currency) if case.currency else "-"

    @admin.display(description="rules")
    def rules(self, case):
        return ", ".join(case.rule_keys)

    @admin.display(description="age (SLA)", ordering="created_at")
    def age(self, case):
        state = selectors.case_sla_state(case)
        return format_html(
            '<span class="sla sla-{}" title="{}">{}</span>',
            state,
            state,
            case_pages.age(selectors.case_age_seconds(case)),
        )

    @admin.display(description="player", ordering="player__external_id")
    def player_link(self, case):
        url = reverse("admin:fraud_player_context", args=[case.player_id])
        return format_html('<a href="{}">{}</a>', url, case.player.external_id)

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(
                lambda request, **kwargs: function(self, request, **kwargs)
            )

        return [
            path(
                "player/<int:player_id>/context/",
                self.admin_site.admin_view(self.player_context_view),
                name="fraud_player_context",
            ),
            path("manager/", view(case_pages.manager_page), name="fraud_case_manager"),
            path(
                "rule-statistics/",
                view(case_pages.statistics_page),
                name="fraud_rule_statistics",
            ),
            path(
                "snooze/<int:snooze_id>/lift/",
                view(case_pages.lift_snooze_view),
                name="fraud_snooze_lift",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The case page: the case, its player, its hits, notes and actions."""
        if not str(object_id).isdigit():
            return super().change_view(request, object_id, form_url, extra_context)
        return case_pages.case_page(self, request, int(object_id))

    def changelist_view(self, request, extra_context=None):
        oldest = selectors.oldest_undecided_hold_seconds()
        extra_context = {
            **(extra_context or {}),
            "manager_url": reverse("admin:fraud_case_manager"),
            "statistics_url": reverse("admin:fraud_rule_statistics"),
            "subtitle": (
                f"Oldest undecided hold: {int(oldest // 60)} min"
                if oldest is not None
                else "No undecided holds"
            ),
        }
        return super().changelist_view(request, extra_context)

    def player_context_view(self, request, player_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        player = get_object_or_404(Player, pk=player_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Player context: {player.external_id}",
            "opts": self.model._meta,
            "ctx": selectors.player_context(player),
            "now": timezone.now(),
            "may_lift": request.user.has_perm("fraud.snooze_rule"),
        }
        return TemplateResponse(request, "admin/fraud/player_context.html", context)


# --- player risk ----------------------------------------------------------------------------


def _trust(trusted):
    def apply(request, risk, reason):
        services.set_player_trusted(
            player=risk.player, trusted=trusted, reason=reason, actor=request.user
        )

    return apply


def _block(request, risk, reason):
    services.block_player(player=risk.player, reason=reason, actor=request.user)


@admin.register(PlayerRisk)
class PlayerRiskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "player",
        "score",
        "hit_count",
        "last_hit_at",
        "trusted",
        "hold_next_withdrawal",
        "player_status",
        "context",
    ]
    list_filter = ["trusted", "hold_next_withdrawal", "player__status"]
    search_fields = ["player__external_id", "=player__id"]
    list_select_related = ["player"]
    actions = [
        reason_action(
            name="trust_players",
            description="Mark trusted (rules relax)",
            permission="trust",
            apply=_trust(True),
        ),
        reason_action(
            name="untrust_players",
            description="Remove trusted mark",
            permission="trust",
            apply=_trust(False),
        ),
        reason_action(
            name="block_players",
            description="Block (PLAYER_BLOCKED at the wallet API)",
            permission="block",
            apply=_block,
        ),
    ]

    def has_trust_permission(self, request):
        return request.user.has_perm("fraud.trust_player")

    def has_block_permission(self, request):
        return request.user.has_perm("wallets.block_player")

    @admin.display(description="player status", ordering="player__status")
    def player_status(self, risk):
        return risk.player.status

    @admin.display(description="context")
    def context(self, risk):
        url = reverse("admin:fraud_player_context", args=[risk.player_id])
        return format_html('<a href="{}">open</a>', url)


@admin.register(RuleHit)
class RuleHitAdmin(ReadableJSONMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "rule_key", "action", "player", "case", "figures_table"]
    list_filter = ["rule_key", "action"]
    search_fields = ["player__external_id", "=player__id"]
    list_select_related = ["player", "case"]
    raw_id_fields = ["player", "case"]
    show_full_result_count = False

    def json_currency(self, hit):
        return hit.player.currency  # a rule's amounts are in the player's currency

    @admin.display(description="figures")
    def figures_table(self, hit):
        return readable_table(hit.figures, currency=hit.player.currency)


@admin.register(PlayerBaseline)
class PlayerBaselineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["wallet", "player", "bet_count", "typical_stake", "updated_at"]
    search_fields = ["player__external_id", "=player__id"]
    list_select_related = ["wallet", "player", "wallet__player"]
    show_full_result_count = False

    @admin.display(description="typical stake (moving average)", ordering="stake_ewma_minor")
    def typical_stake(self, baseline):
        return money(baseline.stake_ewma_minor, baseline.wallet.currency)


@admin.register(RuleSnooze)
class RuleSnoozeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["player", "rule_key", "starts_at", "until", "active", "created_by", "case"]
    list_filter = ["rule_key"]
    search_fields = ["player__external_id", "=player__id"]
    list_select_related = ["player", "created_by"]
    raw_id_fields = ["player", "case"]
    show_full_result_count = False

    @admin.display(description="active", boolean=True)
    def active(self, snooze):
        return snooze.is_active()


@admin.register(CaseNote)
class CaseNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "case", "author", "body"]
    search_fields = ["=case__id", "body"]
    list_select_related = ["case", "author"]
    raw_id_fields = ["case"]
    show_full_result_count = False
