"""Admin of the fraud app: the rules (editable, audited), the review queue (read-only rows,
decisions only through actions that call fraud.services), player risk and the player's context
page."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F
from django.http import HttpResponseRedirect
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
    VersionState,
)
from fraud.models import (
    Backtest,
    Case,
    CaseNote,
    FraudList,
    FraudRule,
    ListEntry,
    PlayerBaseline,
    PlayerRisk,
    RuleHit,
    RuleSnooze,
    RuleVersion,
    ShadowDecision,
)
from wallets.admin_actions import STRICT_JSON_FORMFIELDS, ReadOnlyAdminMixin, reason_action
from wallets.admin_display import ReadableJSONMixin, money, readable_table
from wallets.errors import WalletError
from wallets.models import Player

# --- rules ----------------------------------------------------------------------------------


class RuleVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RuleVersion
    fields = [
        "version_link",
        "state",
        "action",
        "parameters",
        "created_by",
        "published_by",
        "published_at",
        "note",
    ]
    readonly_fields = fields
    extra = 0
    ordering = ["-number"]
    verbose_name_plural = "versions (history: open one to restore, backtest or publish it)"

    @admin.display(description="version")
    def version_link(self, version):
        url = reverse("admin:fraud_ruleversion_change", args=[version.pk])
        return format_html('<a href="{}">v{}</a>', url, version.number)


@admin.register(FraudRule)
class FraudRuleAdmin(admin.ModelAdmin):
    formfield_overrides = STRICT_JSON_FORMFIELDS
    list_display = [
        "key",
        "name",
        "enabled",
        "live_version",
        "shadow_version",
        "action",
        "risk_points",
        "four_eyes_minor",
        "updated_at",
    ]
    list_filter = ["enabled", "action"]
    list_editable = []
    # The live version's settings are changed by publishing a draft, never here.
    readonly_fields = [
        "key",
        "action",
        "parameters",
        "risk_points",
        "four_eyes_minor",
        "new_draft",
        "updated_at",
        "parameter_help",
    ]
    fields = [
        "key",
        "name",
        "enabled",
        "description",
        "new_draft",
        "action",
        "parameters",
        "parameter_help",
        "risk_points",
        "four_eyes_minor",
        "updated_at",
    ]
    inlines = [RuleVersionInline]

    def has_add_permission(self, request):
        return False  # one rule per kind, seeded; disable a rule instead of deleting it

    def has_delete_permission(self, request, obj=None):
        return False

    def _version(self, rule, state):
        version = next((v for v in rule.versions.all() if v.state == state), None)
        if version is None:
            return "-"
        url = reverse("admin:fraud_ruleversion_change", args=[version.pk])
        return format_html('<a href="{}">v{}</a>', url, version.number)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("versions")

    @admin.display(description="live")
    def live_version(self, rule):
        return self._version(rule, VersionState.LIVE)

    @admin.display(description="in shadow")
    def shadow_version(self, rule):
        return self._version(rule, VersionState.SHADOW)

    @admin.display(description="change the settings")
    def new_draft(self, rule):
        url = reverse("admin:fraud_ruleversion_add") + f"?rule={rule.pk}"
        return format_html(
            '<a class="button" href="{}">New draft from the live version</a> '
            "(edit it, backtest it, run it in shadow, then publish it)",
            url,
        )

    @admin.display(description="parameters of this kind")
    def parameter_help(self, rule):
        return _parameter_help(rule.key)

    def save_model(self, request, obj, form, change):
        before = {name: form.initial.get(name) for name in form.changed_data}
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            services.record_rule_audit(rule=obj, actor=request.user, before=before)


def _parameter_help(key):
    from fraud.rules import PARAMETERS

    schema = PARAMETERS.get(key, {})
    items = format_html_join(
        "",
        "<li><code>{}</code> (default {}): {}</li>",
        ((name, param.default, param.help) for name, param in schema.items()),
    )
    return format_html("<ul>{}</ul>", items)


class RuleVersionForm(forms.ModelForm):
    class Meta:
        model = RuleVersion
        fields = ["rule", "action", "parameters", "risk_points", "four_eyes_minor", "note"]


def _version_call(service):
    def apply(request, version, reason):
        service(version_id=version.pk, actor=request.user, reason=reason)

    return apply


def _restore(request, version, reason):
    services.restore_version(version_id=version.pk, actor=request.user, note=reason)


class BacktestForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=services.BACKTEST_MAX_DAYS, initial=30, help_text="days of ledger"
    )


@admin.register(RuleVersion)
class RuleVersionAdmin(admin.ModelAdmin):
    form = RuleVersionForm
    formfield_overrides = STRICT_JSON_FORMFIELDS
    list_display = [
        "__str__",
        "rule",
        "number",
        "state",
        "action",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
    ]
    list_filter = ["state", "rule"]
    list_select_related = ["rule", "created_by", "published_by"]
    readonly_fields = [
        "number",
        "state",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
        "superseded_at",
        "shadow_since",
        "restored_from",
        "diff_against_live",
        "tools",
        "parameter_help",
    ]
    actions = [
        reason_action(
            name="publish_versions",
            description="Publish (make live; the live version is superseded)",
            permission="publish",
            apply=_version_call(services.publish_version),
        ),
        reason_action(
            name="start_shadow",
            description="Run in shadow next to the live version",
            permission="publish",
            apply=_version_call(services.start_shadow),
        ),
        reason_action(
            name="stop_shadow",
            description="Stop the shadow run (back to draft)",
            permission="publish",
            apply=_version_call(services.stop_shadow),
        ),
        reason_action(
            name="restore_as_draft",
            description="Restore as a new draft",
            permission="add",
            apply=_restore,
        ),
    ]

    def has_publish_permission(self, request):
        return request.user.has_perm("fraud.publish_ruleversion")

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.editable:
            return False  # live, shadow and past versions are history
        return super().has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["rule", "action", "parameters", "risk_points", "four_eyes_minor", "note"]
        return [
            "rule",
            "number",
            "state",
            "tools",
            "action",
            "parameters",
            "parameter_help",
            "risk_points",
            "four_eyes_minor",
            "note",
            "diff_against_live",
            "restored_from",
            "created_by",
            "created_at",
            "published_by",
            "published_at",
            "shadow_since",
            "superseded_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.readonly_fields, "rule"]

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        rule = FraudRule.objects.filter(pk=request.GET.get("rule") or 0).first()
        if rule is not None:
            live = services.live_version(rule)
            source = live or rule
            initial.update(
                rule=rule.pk,
                action=source.action,
                parameters=source.parameters,
                risk_points=source.risk_points,
                four_eyes_minor=source.four_eyes_minor,
            )
        return initial

    def save_model(self, request, obj, form, change):
        # Drafts are created and edited through the services (numbering under the rule lock).
        fields = {name: form.cleaned_data[name] for name in services.VERSION_FIELDS}
        try:
            if change:
                saved = services.update_draft(
                    version_id=obj.pk, actor=request.user, note=form.cleaned_data["note"], **fields
                )
            else:
                saved = services.create_draft(
                    rule=form.cleaned_data["rule"],
                    actor=request.user,
                    note=form.cleaned_data["note"],
                    **fields,
                )
        except WalletError as error:  # validated by the form already; a race is still told
            raise PermissionDenied(error.message) from None
        obj.pk = saved.pk
        obj.number = saved.number

    @admin.display(description="parameters of this kind")
    def parameter_help(self, version):
        return _parameter_help(version.rule.key)

    @admin.display(description="against the live version")
    def diff_against_live(self, version):
        live = services.live_version(version.rule)
        if live is None or live.pk == version.pk:
            return "-"
        diff = services.version_diff(live, version)
        if not diff["after"]:
            return "same settings as the live version"
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            ((name, diff["before"][name], diff["after"][name]) for name in diff["after"]),
        )
        return format_html(
            "<table><tr><th>setting</th><th>live v{}</th><th>this version</th></tr>{}</table>",
            live.number,
            rows,
        )

    @admin.display(description="tools")
    def tools(self, version):
        links = [
            (reverse("admin:fraud_ruleversion_backtest", args=[version.pk]), "Run a backtest"),
            (
                reverse("admin:fraud_backtest_changelist") + f"?version__id__exact={version.pk}",
                "Its backtests",
            ),
            (reverse("admin:fraud_ruleversion_shadow", args=[version.pk]), "Shadow vs live"),
        ]
        return format_html_join(" ", '<a class="button" href="{}">{}</a>', links)

    def get_urls(self):
        return [
            path(
                "<int:version_id>/backtest/",
                self.admin_site.admin_view(self.backtest_view),
                name="fraud_ruleversion_backtest",
            ),
            path(
                "<int:version_id>/shadow/",
                self.admin_site.admin_view(self.shadow_view),
                name="fraud_ruleversion_shadow",
            ),
            *super().get_urls(),
        ]

    def backtest_view(self, request, version_id: int):
        if not request.user.has_perm("fraud.add_backtest"):
            raise PermissionDenied
        version = get_object_or_404(RuleVersion.objects.select_related("rule"), pk=version_id)
        form = BacktestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            backtest = services.request_backtest(
                version_id=version.pk, days=form.cleaned_data["days"], actor=request.user
            )
            self.message_user(request, f"Backtest {backtest.pk} queued: its page shows progress.")
            return HttpResponseRedirect(reverse("admin:fraud_backtest_change", args=[backtest.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Backtest {version}",
            "opts": self.model._meta,
            "version": version,
            "form": form,
        }
        return TemplateResponse(request, "admin/fraud/backtest_form.html", context)

    def shadow_view(self, request, version_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(RuleVersion.objects.select_related("rule"), pk=version_id)
        form = ShadowWindowForm(request.GET or None)
        hours = form.cleaned_data["hours"] if form.is_valid() else 24
        until = timezone.now()
        since = until - timedelta(hours=hours)
        comparison = selectors.shadow_comparison(version_id=version.pk, since=since, until=until)
        # The latest disagreements of the same window as the counts above them.
        recent = list(
            ShadowDecision.objects.filter(
                version=version, created_at__gte=since, created_at__lt=until
            )
            .select_related("live_version")
            .exclude(live_action=F("shadow_action"))
            .order_by("-created_at", "-id")[:50]
        )
        for decision in recent:
            decision.amount = money(decision.amount_minor, decision.currency)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Shadow vs live: {version}",
            "opts": self.model._meta,
            "version": version,
            "form": form,
            "hours": hours,
            "comparison": comparison,
            "recent": recent,
        }
        return TemplateResponse(request, "admin/fraud/shadow_comparison.html", context)


class ShadowWindowForm(forms.Form):
    hours = forms.IntegerField(min_value=1, max_value=24 * 90, initial=24)


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "version",
        "days",
        "status",
        "progress_bar",
        "hits",
        "created_at",
        "requested_by",
    ]
    list_filter = ["status", "version__rule"]
    list_select_related = ["version__rule", "requested_by"]
    fields = [
        "version",
        "days",
        "status",
        "progress_bar",
        "stage",
        "window_start",
        "window_end",
        "report",
        "error",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    @admin.display(description="progress")
    def progress_bar(self, backtest):
        return format_html(
            '<progress max="100" value="{}"></progress> {} %', backtest.progress, backtest.progress
        )

    @admin.display(description="hits")
    def hits(self, backtest):
        return backtest.result.get("hits", "-") if backtest.result else "-"

    @admin.display(description="report")
    def report(self, backtest):
        result = backtest.result or {}
        if not result:
            return "not finished yet: reload this page to follow its progress"

        def money(items):
            return ", ".join(item["amount"] for item in items) or "-"

        def share(value):
            return "-" if value is None else f"{value * 100:.1f} %"

        rows = [
            ("hits", result["hits"]),
            ("players affected", result["players_affected"]),
            ("would hold", money(result["would_hold"])),
            ("would decline", money(result["would_decline"])),
            ("would flag", money(result["would_flag"])),
            ("hits on confirmed fraud", result["confirmed_fraud_hits"]),
            ("hits on false positives", result["false_positive_hits"]),
            ("hits not labelled", result["unlabelled_hits"]),
            ("precision (players)", share(result["precision"])),
            (
                "recall (players)",
                f"{share(result['recall'])} of {result['confirmed_fraud_players_in_window']} "
                "confirmed",
            ),
            ("seconds", result.get("seconds")),
        ]
        kinds = format_html_join(
            "",
            "<li>{}: {} hits, {} {}</li>",
            (
                (row["kind"], row["hits"], row["amount_minor"], row["currency"])
                for row in result["by_kind"]
            ),
        )
        return format_html(
            '<table id="backtest-report">{}</table><p>By kind (minor units):</p><ul>{}</ul>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
            kinds,
        )


@admin.register(ShadowDecision)
class ShadowDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "version",
        "request_kind",
        "player_id",
        "amount",
        "live_action",
        "shadow_action",
    ]
    list_filter = ["rule_key", "live_action", "shadow_action", "request_kind"]
    list_select_related = ["version__rule"]
    show_full_result_count = False

    @admin.display(description="amount")
    def amount(self, decision):
        return money(decision.amount_minor, decision.currency)


class ListEntryForm(forms.ModelForm):
    """An entry's value normalised as the list's kind has it (an address as its network, a
    country in capitals) while the form is checked, so that a value already on the list, or typed
    twice in one save in two spellings, is a form error and the rows typed stay on the page."""

    class Meta:
        model = ListEntry
        fields = ["value", "reason", "expires_at"]

    def clean_value(self):
        from fraud.lists import normalise_value

        fraud_list = self.instance.list
        try:
            value = normalise_value(fraud_list.kind, self.cleaned_data["value"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        taken = ListEntry.objects.filter(list=fraud_list, value=value).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"{value} is already on {fraud_list.name}")
        return value


class ListEntryInline(admin.TabularInline):
    model = ListEntry
    form = ListEntryForm  # the inline formset refuses two rows of one normalised value
    fields = ["value", "reason", "expires_at", "added_by", "created_at"]
    readonly_fields = ["added_by", "created_at"]
    extra = 1


@admin.register(FraudList)
class FraudListAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "purpose", "enabled", "entry_count", "created_by", "created_at"]
    list_filter = ["kind", "purpose", "enabled"]
    search_fields = ["name", "entries__value"]
    readonly_fields = ["created_by", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entry_total=Count("entries"))

    @admin.display(description="entries", ordering="entry_total")
    def entry_count(self, fraud_list):
        return fraud_list.entry_total

    def get_inlines(self, request, obj):
        # Entries are checked against the list's kind: add them once the list exists.
        return [ListEntryInline] if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        # A list's kind decides what its entries are: it never changes once it has them.
        return [*self.readonly_fields, "kind"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is not ListEntry:
            return super().save_formset(request, form, formset, change)
        entries = formset.save(commit=False)
        for entry in formset.deleted_objects:
            services.remove_list_entry(
                entry=entry, actor=request.user, reason="removed in the admin"
            )
        for entry in entries:
            if entry.pk is None:
                services.add_list_entry(
                    fraud_list=form.instance,
                    value=entry.value,
                    reason=entry.reason,
                    actor=request.user,
                    expires_at=entry.expires_at,
                )
            else:
                entry.save()
        formset.save_m2m()


@admin.register(ListEntry)
class ListEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["value", "list", "reason", "added_by", "created_at", "expires_at"]
    list_filter = ["list"]
    search_fields = ["value", "reason"]
    list_select_related = ["list", "added_by"]


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
