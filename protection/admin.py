"""Player protection in the admin: the limits and exclusions on the player's page (with links
to change a limit or exclude the player), the lists, and the cooling-off periods per country.

Compliance officers may only lower limits (or add new ones); support agents may also ask for
an increase or a removal on the player's behalf, which waits for the cooling-off. Every change
has a reason and is audited (protection.services)."""

import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from protection import services
from protection.choices import ExclusionKind, LimitKind, LimitPeriod
from protection.models import CoolingOffPeriod, Exclusion, PlayerLimit
from wallets.admin_actions import ReadOnlyAdminMixin
from wallets.currencies import CURRENCY_CHOICES
from wallets.errors import WalletError
from wallets.models import Player
from wallets.money import format_amount, parse_amount


def _amount_text(limit: PlayerLimit, minor) -> str:
    if minor is None:
        return "—"
    if limit.kind == LimitKind.SESSION:
        return f"{minor} min"
    return f"{format_amount(minor, limit.currency)} {limit.currency}"


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PlayerLimitInline(_ReadOnlyInline):
    model = PlayerLimit
    verbose_name = "limit"
    verbose_name_plural = "Player protection: limits"
    template = "admin/protection/limits_inline.html"
    fields = ["limit", "in_force", "effective_from", "pending", "pending_from"]
    readonly_fields = fields

    @admin.display(description="limit")
    def limit(self, obj):
        if obj.kind == LimitKind.SESSION:
            return "session time"
        return f"{obj.kind} per {obj.period} ({obj.currency})"

    @admin.display(description="in force")
    def in_force(self, obj):
        return _amount_text(obj, obj.amount)

    @admin.display(description="pending")
    def pending(self, obj):
        if obj.pending_from is None:
            return "—"
        return "removal" if obj.pending_amount is None else _amount_text(obj, obj.pending_amount)


class ExclusionInline(_ReadOnlyInline):
    model = Exclusion
    verbose_name_plural = "Player protection: exclusions"
    fields = ["kind", "starts_at", "until_text", "reason", "created_by_label"]
    readonly_fields = fields

    @admin.display(description="until")
    def until_text(self, obj):
        return obj.until or "permanent"


class LimitForm(forms.Form):
    kind = forms.ChoiceField(choices=LimitKind.choices)
    period = forms.ChoiceField(
        choices=[("", "— (session time)"), *LimitPeriod.choices], required=False
    )
    currency = forms.ChoiceField(choices=[("", "—"), *CURRENCY_CHOICES], required=False)
    amount = forms.CharField(
        required=False,
        help_text="In the currency (e.g. 100.00), or minutes for the session time. Empty "
        "removes the limit (after the cooling-off).",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)

    def clean(self):
        data = super().clean()
        kind, amount = data.get("kind"), (data.get("amount") or "").strip()
        if kind is None:
            return data
        if kind != LimitKind.SESSION:
            if not data.get("period"):
                self.add_error("period", "a money limit needs a period")
            if not data.get("currency"):
                self.add_error("currency", "a money limit needs a currency")
        if not amount:
            data["amount_value"] = None
        elif kind == LimitKind.SESSION:
            if not amount.isdigit():
                self.add_error("amount", "whole minutes, e.g. 60")
            else:
                data["amount_value"] = int(amount)
        elif data.get("currency"):
            try:
                data["amount_value"] = parse_amount(amount, data["currency"]).minor
            except WalletError as error:
                self.add_error("amount", error.message)
        return data


LENGTHS = {
    "1h": (ExclusionKind.TIMEOUT, datetime.timedelta(hours=1), "Time-out: 1 hour"),
    "24h": (ExclusionKind.TIMEOUT, datetime.timedelta(hours=24), "Time-out: 24 hours"),
    "7d": (ExclusionKind.TIMEOUT, datetime.timedelta(days=7), "Time-out: 1 week"),
    "6w": (ExclusionKind.TIMEOUT, datetime.timedelta(weeks=6), "Time-out: 6 weeks"),
    "6m": (ExclusionKind.SELF_EXCLUSION, datetime.timedelta(days=183), "Self-exclusion: 6 months"),
    "1y": (ExclusionKind.SELF_EXCLUSION, datetime.timedelta(days=365), "Self-exclusion: 1 year"),
    "5y": (
        ExclusionKind.SELF_EXCLUSION,
        datetime.timedelta(days=5 * 365),
        "Self-exclusion: 5 years",
    ),
    "permanent": (ExclusionKind.SELF_EXCLUSION, None, "Self-exclusion: permanent"),
}


class ExclusionForm(forms.Form):
    length = forms.ChoiceField(choices=[(key, label) for key, (_, _, label) in LENGTHS.items()])
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)


@admin.register(PlayerLimit)
class PlayerLimitAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["player", "kind", "period", "currency", "in_force", "pending", "pending_from"]
    list_filter = ["kind", "period", "currency"]
    search_fields = ["player__external_id", "=player__id"]
    list_select_related = ["player"]

    in_force = PlayerLimitInline.in_force
    pending = PlayerLimitInline.pending

    def get_urls(self):
        return [
            path(
                "player/<int:player_id>/change-limit/",
                self.admin_site.admin_view(self.change_limit_view),
                name="protection_change_limit",
            ),
            path(
                "player/<int:player_id>/exclude/",
                self.admin_site.admin_view(self.exclude_view),
                name="protection_exclude",
            ),
            *super().get_urls(),
        ]

    def _player_page(self, player: Player) -> str:
        return reverse("admin:wallets_player_change", args=[player.pk])

    def change_limit_view(self, request, player_id: int):
        if not request.user.has_perm("protection.change_playerlimit"):
            raise PermissionDenied
        player = get_object_or_404(Player, pk=player_id)
        may_raise = request.user.has_perm("protection.raise_limit")
        form = LimitForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                change = services.set_limit(
                    player=player,
                    kind=data["kind"],
                    period=data.get("period") or "",
                    currency=data.get("currency") or "",
                    amount=data.get("amount_value"),
                    reason=data["reason"],
                    actor=request.user,
                    may_raise=may_raise,
                )
            except WalletError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                if change.applied_now:
                    messages.success(request, "The limit applies now.")
                else:
                    messages.success(
                        request,
                        "The change waits for the cooling-off period: it applies at "
                        f"{change.limit.pending_from:%Y-%m-%d %H:%M} UTC."
                        if change.limit and change.limit.pending_from
                        else "The pending change was cancelled.",
                    )
                return redirect(self._player_page(player))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Change a limit of {player}",
            "player": player,
            "form": form,
            "may_raise": may_raise,
            "cooling_off_hours": services.cooling_off_for(player).total_seconds() / 3600,
            "player_page": self._player_page(player),
        }
        return TemplateResponse(request, "admin/protection/change_form.html", context)

    def exclude_view(self, request, player_id: int):
        if not request.user.has_perm("protection.add_exclusion"):
            raise PermissionDenied
        player = get_object_or_404(Player, pk=player_id)
        form = ExclusionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            kind, length, _ = LENGTHS[form.cleaned_data["length"]]
            now = timezone.now()
            try:
                services.exclude_player(
                    player=player,
                    kind=kind,
                    until=None if length is None else now + length,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    now=now,
                )
            except WalletError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, "The player is excluded; open sessions were ended.")
                return redirect(self._player_page(player))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Exclude {player}",
            "cooling_off_hours": None,
            "player": player,
            "form": form,
            "player_page": self._player_page(player),
        }
        return TemplateResponse(request, "admin/protection/change_form.html", context)


@admin.register(Exclusion)
class ExclusionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["player", "kind", "starts_at", "until", "created_by_label"]
    list_filter = ["kind"]
    search_fields = ["player__external_id", "=player__id"]
    list_select_related = ["player"]


@admin.register(CoolingOffPeriod)
class CoolingOffPeriodAdmin(admin.ModelAdmin):
    list_display = ["country", "hours", "updated_at"]
    search_fields = ["country"]

    def get_changeform_initial_data(self, request):
        return {"hours": 24}
