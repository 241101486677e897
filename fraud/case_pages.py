"""The case manager's admin pages: the queues (with "next case"), the case page with its
actions (claim, release, notes, escalate, snooze, approve and reject with reasons and outcomes
that fit the decision) and the rule statistics. Thin: forms validate, one service call each,
then back to the page. Wired into CaseAdmin (fraud.admin) under its URLs."""

from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from fraud import casework, selectors, services, statistics
from fraud.choices import (
    APPROVE_OUTCOMES,
    APPROVE_REASONS,
    MAX_SNOOZE_DAYS,
    REJECT_OUTCOMES,
    REJECT_REASONS,
    CaseOutcome,
    CaseQueue,
    DecisionReason,
    RuleKind,
)
from fraud.models import Case, PlayerRisk, RuleSnooze, RuleVersion
from monitoring.charts import line_chart
from wallets.admin_display import money
from wallets.errors import WalletError
from wallets.models import AuditRecord

# --- reading figures as people read them -----------------------------------------------------


def duration(seconds) -> str:
    seconds = int(seconds)
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    if minutes >= 24 * 60:
        return f"{minutes // 1440} d {minutes % 1440 // 60} h"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def figure_rows(figures: dict, currency: str) -> list[tuple[str, str]]:
    """A hit's figures as (label, value) rows: amounts in money, windows in time, lists
    shortened, the rest as given."""
    currency = figures.get("currency") or currency
    rows = []
    for key, value in figures.items():
        if key in ("currency", "dedupe_key"):
            continue
        label = key.replace("_minor", "").replace("_", " ")
        if key.endswith("_minor") and isinstance(value, int):
            shown = money(value, currency)
        elif key.endswith("_seconds") and isinstance(value, int | float):
            label = label.replace(" seconds", "")
            shown = duration(value)
        elif isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, list):
            shown = ", ".join(str(item) for item in value[:20]) + (" …" if len(value) > 20 else "")
        else:
            shown = str(value)
        rows.append((label, shown))
    return rows


# --- forms ------------------------------------------------------------------------------------


def _reasons(codes):
    labels = dict(DecisionReason.choices)
    return [(code.value, labels[code]) for code in codes]


def _outcomes(codes):
    labels = dict(CaseOutcome.choices)
    return [(code.value, labels[code]) for code in codes]


class ApproveForm(forms.Form):
    reason_code = forms.ChoiceField(choices=_reasons(APPROVE_REASONS))
    outcome = forms.ChoiceField(
        choices=_outcomes(APPROVE_OUTCOMES),
        help_text="False positive: the rule should not have fired. Legitimate: unusual but "
        "explained.",
    )
    note = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(choices=_reasons(REJECT_REASONS))
    outcome = forms.ChoiceField(choices=_outcomes(REJECT_OUTCOMES))
    note = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(forms.Form):
    body = forms.CharField(
        label="note", max_length=casework.NOTE_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 3})
    )


class RelabelForm(forms.Form):
    outcome = forms.ChoiceField(choices=CaseOutcome.choices)
    reason = forms.CharField(max_length=1000, help_text="What was learned since the decision.")


class EscalateForm(forms.Form):
    reason = forms.CharField(max_length=1000)


class SnoozeForm(forms.Form):
    rule = forms.ChoiceField()
    days = forms.IntegerField(min_value=1, max_value=MAX_SNOOZE_DAYS, initial=30)
    reason = forms.CharField(max_length=1000)

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(RuleKind.choices)
        self.fields["rule"].choices = [
            (key, labels[key]) for key in case.rule_keys if key in labels
        ]


ACTION_FORMS = {
    "approve": ApproveForm,
    "reject": RejectForm,
    "note": NoteForm,
    "escalate": EscalateForm,
    "snooze": SnoozeForm,
    "relabel": RelabelForm,
}


def _forms(case: Case, bound: str | None = None, data=None) -> dict:
    made = {}
    for name, form_class in ACTION_FORMS.items():
        kwargs = {"prefix": name}
        if name == "snooze":
            kwargs["case"] = case
        made[name] = form_class(data if name == bound else None, **kwargs)
    return made


# --- the case page ----------------------------------------------------------------------------


def _player_summary(case: Case) -> dict:
    player = case.player
    others = Case.objects.filter(player=player).exclude(pk=case.pk)
    return {
        "player": player,
        "wallets": [
            {
                "currency": wallet.currency,
                "balance": money(wallet.balance_minor, wallet.currency),
                "reserved": money(wallet.reserved_minor, wallet.currency),
                "available": money(wallet.balance_minor - wallet.reserved_minor, wallet.currency),
            }
            for wallet in player.wallets.all()
        ],
        "risk": PlayerRisk.objects.filter(player=player).first(),
        "other_cases": others.count(),
        "confirmed_fraud": others.filter(outcome=CaseOutcome.CONFIRMED_FRAUD).count(),
        "undecided_others": others.filter(status__in=("open", "awaiting_second")).count(),
        "snoozes": list(selectors.active_snoozes(player_ids=[player.pk])),
        "context_url": reverse("admin:fraud_player_context", args=[player.pk]),
    }


def case_page(model_admin, request, case_id: int):
    """GET: the case with everything a reviewer needs; POST `do`: one action, then back."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    case = get_object_or_404(
        Case.objects.select_related(
            "player", "transaction", "provider", "assigned_to", "decided_by", "escalated_by"
        ),
        pk=case_id,
    )
    user = request.user
    bound, data = None, None
    if request.method == "POST":
        bound = request.POST.get("do", "")
        result = _act(request, case, bound)
        if result is not None:
            return result
        data = request.POST
    page_forms = _forms(case, bound, data)
    may_decide = user.has_perm("fraud.decide_case") and (
        case.level == 1 or user.has_perm("fraud.decide_escalated_case")
    )
    hits = [
        {
            "rule": hit.get("rule"),
            "version": hit.get("version"),
            "action": hit.get("action"),
            "rows": figure_rows(hit.get("figures") or {}, case.currency),
        }
        for hit in case.hits
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Case {case.pk}: {case.get_kind_display().lower()}",
        "opts": Case._meta,
        "case": case,
        "amount": money(case.amount_minor, case.currency) if case.currency else None,
        "age": age(selectors.case_age_seconds(case)),
        "sla_state": selectors.case_sla_state(case),
        "sla": duration(selectors.sla_seconds(case.kind)),
        "hits": hits,
        "notes": case.notes.select_related("author"),
        "summary": _player_summary(case),
        "forms": page_forms,
        "bound": bound,
        "may_decide": may_decide and case.undecided,
        "may_claim": may_decide and case.undecided and case.assigned_to_id != user.pk,
        "may_release": case.undecided
        and case.assigned_to_id is not None
        and (case.assigned_to_id == user.pk or user.has_perm("fraud.assign_case")),
        "may_escalate": may_decide and case.undecided and case.level == 1,
        "may_note": user.has_perm("fraud.decide_case"),
        "may_relabel": not case.undecided
        and user.has_perm("fraud.decide_case")
        and (case.level == 1 or user.has_perm("fraud.decide_escalated_case")),
        "may_snooze": user.has_perm("fraud.snooze_rule")
        and bool(page_forms["snooze"].fields["rule"].choices),
        "audit": AuditRecord.objects.filter(target_type="fraud.case", target_id=str(case.pk))
        .select_related("actor")
        .order_by("at")[:100],
        "manager_url": reverse("admin:fraud_case_manager"),
        "queue": CaseQueue.ESCALATED if case.level == 2 else case.kind,
    }
    status = 400 if bound else 200
    return TemplateResponse(request, "admin/fraud/case/case_page.html", context, status=status)


def _act(request, case: Case, what: str):
    """Run one action; a redirect on success or a refusal (with its message), None when the
    form has errors (the page is shown again with them)."""
    user = request.user
    here = reverse("admin:fraud_case_change", args=[case.pk])
    needed = {
        "snooze": "fraud.snooze_rule",
        "release": None,
    }.get(what, "fraud.decide_case")
    if what not in (*ACTION_FORMS, "claim", "release"):
        messages.error(request, f"unknown action {what!r}")
        return HttpResponseRedirect(here)
    if needed and not user.has_perm(needed):
        raise PermissionDenied
    form = None
    if what in ACTION_FORMS:
        form = _forms(case, what, request.POST)[what]
        if not form.is_valid():
            return None
    try:
        if what == "claim":
            casework.claim_case(case_id=case.pk, actor=user)
            messages.success(request, "You hold this case now.")
        elif what == "release":
            casework.release_case(case_id=case.pk, actor=user)
            messages.success(request, "Case released to its queue.")
        elif what == "note":
            casework.add_note(case_id=case.pk, actor=user, body=form.cleaned_data["body"])
            messages.success(request, "Note added.")
        elif what == "escalate":
            casework.escalate_case(case_id=case.pk, actor=user, reason=form.cleaned_data["reason"])
            messages.success(request, "Escalated to level 2; it left the level-1 queues.")
        elif what == "relabel":
            casework.relabel_outcome(case_id=case.pk, actor=user, **form.cleaned_data)
            messages.success(request, "Outcome changed.")
        elif what == "snooze":
            snooze = casework.snooze_rule(
                player=case.player,
                rule_key=form.cleaned_data["rule"],
                days=form.cleaned_data["days"],
                reason=form.cleaned_data["reason"],
                actor=user,
                case=case,
            )
            messages.success(
                request,
                f"{snooze.rule_key} snoozed for {case.player.external_id} until "
                f"{snooze.until:%Y-%m-%d %H:%M} UTC.",
            )
        else:
            decide = services.approve_case if what == "approve" else services.reject_case
            decided = decide(case_id=case.pk, actor=user, **form.cleaned_data)
            if decided.status == "awaiting_second":
                messages.warning(request, "First approval recorded: a second approver is needed.")
            else:
                messages.success(
                    request,
                    f"Case {decided.pk} {decided.status} "
                    f"({decided.get_outcome_display().lower()}).",
                )
    except WalletError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(here)


# --- the queues -------------------------------------------------------------------------------


def manager_page(model_admin, request):
    """The queues with their figures and SLA colours; POST `queue`: claim the next case of it
    and open it."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    user = request.user
    if request.method == "POST":
        queue = request.POST.get("queue", "")
        try:
            case = casework.next_case(queue=queue, actor=user)
        except WalletError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(reverse("admin:fraud_case_manager"))
        if case is None:
            messages.info(request, "Nothing waiting in that queue for you.")
            return HttpResponseRedirect(reverse("admin:fraud_case_manager"))
        return HttpResponseRedirect(reverse("admin:fraud_case_change", args=[case.pk]))
    queues = [
        {"figures": row, "oldest": age(row.oldest_unclaimed_seconds)}
        for row in selectors.queue_overview(user)
    ]
    mine = (
        Case.objects.filter(assigned_to=user, status__in=("open", "awaiting_second"))
        .select_related("player")
        .order_by("created_at")[:100]
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Case manager",
        "opts": Case._meta,
        "queues": queues,
        "mine": [
            {
                "case": case,
                "age": age(selectors.case_age_seconds(case)),
                "sla_state": selectors.case_sla_state(case),
                "amount": money(case.amount_minor, case.currency) if case.currency else "-",
            }
            for case in mine
        ],
        "sla": {
            kind: duration(selectors.sla_seconds(kind)) for kind in ("hold", "decline", "flag")
        },
    }
    return TemplateResponse(request, "admin/fraud/case/manager.html", context)


# --- rule statistics --------------------------------------------------------------------------


class StatisticsForm(forms.Form):
    start = forms.DateField(label="from", required=False)
    end = forms.DateField(label="to", required=False)
    # Per-version figures of one rule (all its versions, or the one chosen).
    rule = forms.ChoiceField(label="rule", required=False, choices=[("", "-"), *RuleKind.choices])
    version = forms.IntegerField(label="version", required=False, min_value=1)

    def clean(self):
        data = super().clean()
        today = timezone.now().date()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=29)
        if start > end:
            raise forms.ValidationError("'from' is after 'to'")
        if (end - start).days + 1 > statistics.MAX_DAYS:
            raise forms.ValidationError(f"at most {statistics.MAX_DAYS} days")
        data["start"], data["end"] = start, end
        if data.get("version") is not None and not data.get("rule"):
            self.add_error("version", "choose the rule first")
        elif (
            data.get("version") is not None
            and not RuleVersion.objects.filter(
                rule__key=data["rule"], number=data["version"]
            ).exists()
        ):
            self.add_error("version", f"{data['rule']} has no version {data['version']}")
        return data


def _figures_row(stats) -> dict:
    return {
        "stats": stats,
        "fp_rate": "-"
        if stats.false_positive_rate is None
        else f"{stats.false_positive_rate * 100:.1f} %",
        "median": "-"
        if stats.median_decision_seconds is None
        else age(stats.median_decision_seconds),
        "outcome_shares": _shares(stats.outcomes),
    }


def _day_times(days) -> list[datetime]:
    return [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days]


def _version_chart(version: statistics.VersionStatistics):
    """Hits per day of one version; days on which it was not live (and did not hit) are gaps."""
    first = version.published_at.astimezone(UTC).date() if version.published_at else None
    last = version.superseded_at.astimezone(UTC).date() if version.superseded_at else None

    def shown(day, count):
        if count or version.number is None:
            return count
        if first is None or day < first or (last is not None and day > last):
            return None
        return count

    return line_chart(
        times=_day_times([day for day, _ in version.hits_per_day]),
        series=[(version.label, [shown(day, count) for day, count in version.hits_per_day])],
        unit="hits",
        height=140,
    )


def statistics_page(model_admin, request):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form = StatisticsForm(request.GET or None)
    rows, chart, start, end, per_version = [], None, None, None, None
    if form.is_valid() or not request.GET:
        if not request.GET:
            end = timezone.now().date()
            start = end - timedelta(days=29)
        else:
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        figures = statistics.rule_statistics(since=start, until=end)
        rows = [_figures_row(stats) for stats in figures]
        days = [day for day, _ in figures[0].hits_per_day] if figures else []
        chosen_rule = form.cleaned_data.get("rule") if request.GET else ""
        if chosen_rule:
            by_rule = {stats.rule: stats for stats in figures}
            rule_stats = by_rule.get(chosen_rule)
            version_rows = [
                {**_figures_row(version), "chart": _version_chart(version)}
                for version in (rule_stats.versions if rule_stats else [])
            ]
            chosen_version = form.cleaned_data.get("version")
            if chosen_version is not None:
                version_rows = [
                    row for row in version_rows if row["stats"].number == chosen_version
                ] or [
                    {**_figures_row(version), "chart": _version_chart(version)}
                    for version in statistics.rule_statistics(
                        since=start, until=end, rule=chosen_rule, version=chosen_version
                    )[0].versions
                ]
            per_version = {
                "rule": chosen_rule,
                "name": rule_stats.name if rule_stats else chosen_rule,
                "rows": version_rows,
                "version": chosen_version,
                "choices": list(
                    RuleVersion.objects.filter(rule__key=chosen_rule)
                    .exclude(published_at__isnull=True)
                    .order_by("number")
                    .values_list("number", "state")
                ),
            }
        chart = line_chart(
            times=_day_times(days),
            series=[
                (stats.rule, [count for _, count in stats.hits_per_day])
                for stats in figures
                if stats.hits
            ],
            unit="hits",
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Rule statistics",
        "opts": Case._meta,
        "form": form,
        "rows": rows,
        "chart": chart,
        "start": start,
        "end": end,
        "per_version": per_version,
        "rule_choices": RuleKind.choices,
    }
    return TemplateResponse(
        request,
        "admin/fraud/case/rule_statistics.html",
        context,
        status=400 if request.GET and not form.is_valid() else 200,
    )


def _shares(outcomes: dict) -> list[dict]:
    total = sum(outcomes.values())
    labels = dict(CaseOutcome.choices)
    return [
        {
            "outcome": key,
            "label": labels.get(key, key),
            "count": count,
            "percent": round(100 * count / total) if total else 0,
        }
        for key, count in outcomes.items()
    ]


def lift_snooze_view(model_admin, request, snooze_id: int):
    """POST from the player's context page: end a snooze early, with a reason."""
    if request.method != "POST" or not request.user.has_perm("fraud.snooze_rule"):
        raise PermissionDenied
    snooze = get_object_or_404(RuleSnooze, pk=snooze_id)
    back = reverse("admin:fraud_player_context", args=[snooze.player_id])
    try:
        casework.lift_snooze(
            snooze_id=snooze.pk, actor=request.user, reason=request.POST.get("reason", "")
        )
        messages.success(request, f"Snooze of {snooze.rule_key} lifted.")
    except WalletError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(back)
