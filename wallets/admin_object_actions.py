"""Actions on an object's own page: the person who opened an alert, a discrepancy, a session or a
provider decides there, where the facts are, instead of going back to the list.

Each action is a button on the detail page leading to a confirmation page (a reason, the
action's own fields, and for some a preview of the effect before anything is done); then one
service call, which audits. The button shows only to those who may act; the page itself checks
again (403 otherwise, with no effect). A refusal of the service (WalletError) is shown on the
form and changes nothing. Bulk actions on the list pages stay as they are.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from wallets.admin_actions import ReasonForm
from wallets.errors import WalletError


@dataclass(frozen=True)
class ObjectAction:
    name: str  # in the URL: <object id>/act/<name>/
    label: str  # the button and the page title
    permission: str  # the ModelAdmin's has_<permission>_permission(request)
    # apply(request, obj, cleaned_data) -> the success message (or None for a default one)
    apply: Callable
    form: type[forms.Form] = ReasonForm
    # whether the action makes sense for this object now (e.g. the session is open)
    available: Callable = field(default=lambda obj: True)
    explain: str = ""  # what will happen, shown above the form
    # preview(obj, cleaned_data) -> [(label, value)]: shown, then confirmed, before apply
    preview: Callable | None = None
    # initial(obj) -> the form's initial values
    initial: Callable | None = None
    # form_kwargs(obj) -> extra keyword arguments of the form (e.g. what it offers)
    form_kwargs: Callable | None = None
    # facts(obj) -> [(label, value)]: what the person decides on, shown above the form
    facts: Callable | None = None
    danger: bool = False


class ObjectActionsMixin:
    """For a ModelAdmin: `object_actions = [ObjectAction(...), ...]` become buttons on the
    object's page (templates/admin/pitboss/change_form_actions.html)."""

    object_actions: list[ObjectAction] = []
    change_form_template = "admin/pitboss/change_form_actions.html"

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/act/<slug:action_name>/",
                self.admin_site.admin_view(self.object_action_view),
                name=f"{opts.app_label}_{opts.model_name}_object_action",
            ),
            *super().get_urls(),
        ]

    def _may(self, request, action: ObjectAction) -> bool:
        return bool(getattr(self, f"has_{action.permission}_permission")(request))

    def object_actions_for(self, request, obj) -> list[dict]:
        opts = self.model._meta
        return [
            {
                "name": action.name,
                "label": action.label,
                "danger": action.danger,
                "url": reverse(
                    f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_object_action",
                    args=[obj.pk, action.name],
                ),
            }
            for action in self.object_actions
            if self._may(request, action) and action.available(obj)
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_or_change_permission(request, obj):
            extra_context["object_actions"] = self.object_actions_for(request, obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def object_action_view(self, request, object_id, action_name):
        action = next((a for a in self.object_actions if a.name == action_name), None)
        if action is None:
            raise Http404(f"No action {action_name!r} here.")
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.model._meta.verbose_name} with id {object_id!r}.")
        if not self.has_view_or_change_permission(request, obj) or not self._may(request, action):
            raise PermissionDenied
        opts = self.model._meta
        change_url = reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]
        )
        if not action.available(obj):
            self.message_user(
                request, f"{action.label}: not possible now ({obj}).", messages.WARNING
            )
            return HttpResponseRedirect(change_url)
        kwargs = action.form_kwargs(obj) if action.form_kwargs else {}
        initial = action.initial(obj) if action.initial else None
        posted = request.method == "POST"
        form = action.form(request.POST if posted else None, initial=initial, **kwargs)
        preview = None
        if posted and "edit" not in request.POST and form.is_valid():
            if action.preview is not None:
                try:
                    preview = action.preview(obj, form.cleaned_data)
                except WalletError as error:
                    form.add_error(None, error.message)
            if form.is_valid() and (action.preview is None or "confirmed" in request.POST):
                try:
                    done = action.apply(request, obj, form.cleaned_data)
                except WalletError as error:
                    form.add_error(None, error.message)
                    preview = None
                else:
                    obj.refresh_from_db()
                    self.message_user(request, done or f"{action.label}: done ({obj}).")
                    return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.label}: {obj}",
            "opts": opts,
            "original": obj,
            "action": action,
            "form": form,
            "preview": preview,
            # (a template would call action.preview itself)
            "has_preview": action.preview is not None,
            "facts": action.facts(obj) if action.facts else [],
            "change_url": change_url,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/pitboss/object_action.html", context)
