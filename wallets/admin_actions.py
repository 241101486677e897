"""Admin helpers shared by every app: read-only record admins, and actions that need a reason (a
confirmation page with a reason field, then one service call per selected object; refusals
(WalletError) are reported per object, nothing is skipped silently)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from wallets.errors import WalletError


class ReadOnlyAdminMixin:
    """No add, change or delete in the admin: the rows are records, written by services only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), strip=True
    )


def reason_action(*, name: str, description: str, permission: str, apply, confirm: str = ""):
    """An admin action that asks for a reason and calls `apply(request, obj, reason)` per object.

    `permission` is the ModelAdmin `has_<permission>_permission` the action requires.
    """

    def action(modeladmin, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    apply(request, obj, form.cleaned_data["reason"])
                    done += 1
                except WalletError as error:
                    modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            if done:
                modeladmin.message_user(
                    request, f"{description}: done for {done} of {queryset.count()}."
                )
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "objects": list(queryset[:200]),
            "count": queryset.count(),
            "form": form,
            "action_name": name,
            "confirm": confirm,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/pitboss/reason_form.html", context)

    action.__name__ = name
    return admin.action(description=description, permissions=[permission])(action)
