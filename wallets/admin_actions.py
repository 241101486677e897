"""Admin helpers shared by every app: read-only record admins, actions that need a reason (a
confirmation page with a reason field, then one service call per selected object; refusals
(WalletError) are reported per object, nothing is skipped silently), and the form parts that
keep bad input a form error: JSON fields read by wallets.strictjson, autocomplete widgets that
never look up a value that cannot be a key."""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput, JSONString
from django.template.response import TemplateResponse

from wallets import strictjson
from wallets.errors import WalletError


class ReadOnlyAdminMixin:
    """No add, change or delete in the admin: the rows are records, written by services only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StrictJSONField(forms.JSONField):
    """The admin's JSON fields, read by wallets.strictjson like the API's bodies: a repeated key,
    NaN, nesting deeper than 32 levels or a lone surrogate is a form error naming it (Django's
    own field would keep the last key, store NaN and fail with a 500 on deep nesting). Numbers
    are kept as written: a whole number as an integer, a fraction only when its shortest float
    form is the same number (what the database will hold), else refused."""

    def to_python(self, value):
        if self.disabled:
            return value
        if value in self.empty_values:
            return None
        if isinstance(value, list | dict | int | float | JSONString):
            return value
        converted = _storable(_strict_loads(value))
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return _storable(_strict_loads(data))
        except ValidationError:
            return InvalidJSONInput(data)


def _strict_loads(text: str):
    try:
        return strictjson.loads(text)
    except strictjson.JSONRefused as refused:
        where = f" (at {refused.field})" if refused.field else ""
        raise ValidationError(f"Not accepted: {refused.message}{where}.", code="invalid") from None


def _storable(value):
    """`value` with its Decimals as the numbers json and PostgreSQL keep; text without NUL."""
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError("Not accepted: text with a NUL character.", code="invalid")
    if isinstance(value, Decimal):
        if value.adjusted() > 30:
            raise ValidationError(f"Not accepted: {value} is too large.", code="invalid")
        if value == value.to_integral_value():
            return int(value)
        if Decimal(repr(float(value))) != value:
            raise ValidationError(
                f"Not accepted: {value} has more digits than can be kept; write it as text.",
                code="invalid",
            )
        return float(value)
    return value


# formfield_overrides of every ModelAdmin that edits a JSONField.
STRICT_JSON_FORMFIELDS = {models.JSONField: {"form_class": StrictJSONField}}


class KeysOnlyAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget, except that a posted value that cannot be a key of the
    related model (text or an out-of-range number in an id field) is left out when the form is
    shown again with its errors: Django's own widget looks it up in the database and fails."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        key = remote.model._meta.get_field(remote.field_name)
        possible = []
        for item in value:
            try:
                key.run_validators(key.to_python(item))
            except ValidationError:
                continue
            possible.append(item)
        return super().optgroups(name, possible, attr)


class KeysOnlyAutocompleteMixin:
    """For ModelAdmins with autocomplete_fields: use KeysOnlyAutocompleteSelect."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request) and "widget" not in kwargs:
            kwargs["widget"] = KeysOnlyAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
    action.reason_form = ReasonForm  # what the confirmation page asks (tests fill it in)
    return admin.action(description=description, permissions=[permission])(action)
