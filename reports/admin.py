"""Admin of the reports: the provider fee history (a new rate is a new entry, never an edit)
and the providers' invoice figures. The reports themselves are pages (reports.pages)."""

from django import forms as django_forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from reports.models import ProviderFee, ProviderInvoice
from reports.selectors import human
from wallets.errors import InvalidAmount
from wallets.money import parse_amount


@admin.register(ProviderFee)
class ProviderFeeAdmin(admin.ModelAdmin):
    list_display = ["provider", "percent", "effective_from", "note", "created_by", "created_at"]
    list_filter = ["provider"]
    fields = ["provider", "percent", "effective_from", "note"]

    def has_change_permission(self, request, obj=None):
        return False  # the history stands: a new rate is a new entry

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)


class MoneyField(django_forms.CharField):
    """An amount as people write it ("1234.50", "-10.00"), checked against the currency's
    decimals in the form's clean()."""


class ProviderInvoiceForm(django_forms.ModelForm):
    stakes = MoneyField(required=False, help_text="Net of refunds, as the invoice states it.")
    wins = MoneyField(required=False)
    ggr = MoneyField(label="GGR")
    fee = MoneyField()
    amount_due = MoneyField()

    class Meta:
        model = ProviderInvoice
        fields = ["provider", "month", "currency", "reference"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance and instance.pk:
            for name in ("stakes", "wins", "ggr", "fee", "amount_due"):
                value = getattr(instance, f"{name}_minor")
                if value is not None:
                    self.initial[name] = (
                        human(value, instance.currency).rsplit(" ", 1)[0].replace(",", "")
                    )

    def clean_month(self):
        month = self.cleaned_data["month"]
        return month.replace(day=1) if month else month

    def clean_currency(self):
        from wallets import currencies

        currency = (self.cleaned_data.get("currency") or "").upper()
        if not currencies.is_known(currency):
            raise django_forms.ValidationError("unknown currency")
        return currency

    def clean(self):
        cleaned = super().clean()
        currency = cleaned.get("currency")
        if not currency:
            return cleaned
        for name in ("stakes", "wins", "ggr", "fee", "amount_due"):
            raw = (cleaned.get(name) or "").strip().replace(",", "")
            if not raw:
                cleaned[f"{name}_minor"] = None
                continue
            negative = raw.startswith("-")
            try:
                minor = parse_amount(raw.lstrip("-"), currency, field=name).minor
            except InvalidAmount as error:
                self.add_error(name, error.message)
                continue
            cleaned[f"{name}_minor"] = -minor if negative else minor
        return cleaned

    def save(self, commit=True):
        for name in ("stakes", "wins", "ggr", "fee", "amount_due"):
            if f"{name}_minor" in self.cleaned_data:
                setattr(self.instance, f"{name}_minor", self.cleaned_data[f"{name}_minor"])
        return super().save(commit)


@admin.register(ProviderInvoice)
class ProviderInvoiceAdmin(admin.ModelAdmin):
    form = ProviderInvoiceForm
    list_display = ["provider", "month", "currency", "reference", "ggr", "amount_due", "statement"]
    list_filter = ["provider", "currency"]

    @admin.display(description="GGR")
    def ggr(self, invoice):
        return human(invoice.ggr_minor, invoice.currency)

    @admin.display(description="amount due")
    def amount_due(self, invoice):
        return human(invoice.amount_due_minor, invoice.currency)

    @admin.display(description="statement")
    def statement(self, invoice):
        url = reverse("reports-statement")
        return format_html(
            '<a href="{}?provider={}&amp;month={}">compare</a>',
            url,
            invoice.provider.code,
            invoice.month.strftime("%Y-%m"),
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
