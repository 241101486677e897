"""How the admin shows figures to people: money as "110.00 EUR" (signed where it is a movement),
JSON figures and before/after states as small tables, and an object's own audit trail.

Shared by every app's admin; no app-specific rule lives here.
"""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from wallets import currencies
from wallets.money import display_amount

# Fields that record a movement (a change of a balance): shown with their sign.
SIGNED_FIELDS = {"delta_minor", "drift_minor", "released_minor", "settled_minor"}


def money(minor, currency, *, signed: bool = False) -> str:
    """display_amount, tolerant of what records may hold: no amount, or no known currency (then
    the exact minor units, said as such)."""
    if minor is None:
        return "-"
    if currency and currencies.is_known(currency):
        return display_amount(int(minor), currency, signed=signed)
    return f"{minor} minor units"


def _label(key: str, currency: str | None = None) -> str:
    key = str(key)
    if key.endswith("_minor"):
        # With a currency the value reads as money; without one, say the unit.
        key = key[: -len("_minor")] + ("" if currency else " (minor units)")
    return key.replace("_", " ")


def _cell(key, value, currency):
    if isinstance(value, dict | list):
        return readable_table(value, currency=currency)
    if (
        str(key).endswith("_minor")
        and isinstance(value, int)
        and not isinstance(value, bool)
        and currency
    ):
        return money(value, currency, signed=str(key) in SIGNED_FIELDS)
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def readable_table(data, *, currency: str | None = None):
    """A JSON value (rule-hit figures, an audit record's state) as an HTML table people read:
    one row per key, nested values as nested tables, `*_minor` amounts as money when the
    currency is known (from `currency` or a "currency" key beside them)."""
    if data in (None, {}, []):
        return "-"
    if isinstance(data, list):
        if all(not isinstance(item, dict | list) for item in data):
            return ", ".join(str(item) for item in data)
        rows = format_html_join(
            "",
            "<tr><td>{}</td></tr>",
            ((readable_table(item, currency=currency),) for item in data),
        )
        return format_html('<table class="pitboss-readable">{}</table>', rows)
    if not isinstance(data, dict):
        return str(data)
    currency = data.get("currency") if isinstance(data.get("currency"), str) else currency
    rows = format_html_join(
        "",
        "<tr><th scope=row>{}</th><td>{}</td></tr>",
        ((_label(key, currency), _cell(key, value, currency)) for key, value in data.items()),
    )
    return format_html('<table class="pitboss-readable">{}</table>', rows)


def before_after_table(before: dict, after: dict, *, currency: str | None = None):
    """Two states side by side: one row per key present in either, "-" where absent."""
    before = before if isinstance(before, dict) else {"value": before}
    after = after if isinstance(after, dict) else {"value": after}
    if not before and not after:
        return "-"
    currency = after.get("currency") or before.get("currency") or currency
    keys = list(dict.fromkeys([*before, *after]))
    rows = format_html_join(
        "",
        "<tr><th scope=row>{}</th><td>{}</td><td>{}</td></tr>",
        (
            (
                _label(key, currency),
                _cell(key, before.get(key), currency) if key in before else "-",
                _cell(key, after.get(key), currency) if key in after else "-",
            )
            for key in keys
        ),
    )
    return format_html(
        '<table class="pitboss-readable"><thead><tr><th></th><th>before</th><th>after</th>'
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def audit_history(obj, *, currency: str | None = None, limit: int = 50):
    """The audit records about `obj` (who, what, when, why, before/after), newest first."""
    from wallets.models import AuditRecord

    records = AuditRecord.objects.filter(
        target_type=obj._meta.label_lower, target_id=str(obj.pk)
    ).order_by("-at", "-id")[:limit]
    if not records:
        return "No staff or system action recorded yet."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{record.at:%Y-%m-%d %H:%M:%S}",
                record.actor_label,
                record.action,
                record.reason or "-",
                before_after_table(record.before, record.after, currency=currency),
            )
            for record in records
        ),
    )
    return format_html(
        '<table class="pitboss-readable pitboss-history"><thead><tr><th>when</th><th>who</th>'
        "<th>what</th><th>why</th><th>change</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


class MoneyFieldsMixin:
    """On an admin's detail page, each `*_minor` field of the model reads as money ("amount
    110.00 EUR", not "Amount minor 11000"). `money_currency(obj)` names the currency (default:
    the object's `currency`)."""

    def money_currency(self, obj):
        return getattr(obj, "currency", None)

    def _money_display(self, name: str):
        attribute = f"{name[: -len('_minor')]}_money"
        if not hasattr(self, attribute):
            field = self.model._meta.get_field(name)
            label = str(field.verbose_name)
            label = label[: -len(" minor")] if label.endswith(" minor") else label

            def show(obj, _name=name):
                if obj is None:
                    return "-"
                return money(
                    getattr(obj, _name), self.money_currency(obj), signed=_name in SIGNED_FIELDS
                )

            show.short_description = label
            setattr(self, attribute, show)
        return attribute

    def _with_money(self, names):
        minor_fields = {
            f.name
            for f in self.model._meta.concrete_fields
            if f.name.endswith("_minor") and not f.is_relation
        }
        return [self._money_display(n) if n in minor_fields else n for n in names]

    def get_fields(self, request, obj=None):
        return self._with_money(super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        names = list(super().get_readonly_fields(request, obj))
        if obj is None and self.has_add_permission(request):
            return names
        return self._with_money(names) + [
            n for n in self._with_money(self._all_minor()) if n not in names
        ]

    def _all_minor(self):
        return [
            f.name
            for f in self.model._meta.concrete_fields
            if f.name.endswith("_minor") and not f.is_relation
        ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return [
            (title, {**options, "fields": self._with_money(options.get("fields", []))})
            for title, options in fieldsets
        ]


class ReadableJSONMixin:
    """On an admin's detail page, each JSON field of the model reads as a table (see
    readable_table), not as a Python dict. `json_currency(obj)` names the currency of its
    `*_minor` figures, when there is one."""

    def json_currency(self, obj):
        return getattr(obj, "currency", None)

    def _json_display(self, name: str):
        attribute = f"{name}_readable"
        if not hasattr(self, attribute):
            label = str(self.model._meta.get_field(name).verbose_name)

            def show(obj, _name=name):
                if obj is None:
                    return "-"
                return format_html(
                    "{}{}",
                    STYLE,
                    readable_table(getattr(obj, _name), currency=self.json_currency(obj)),
                )

            show.short_description = label
            setattr(self, attribute, show)
        return attribute

    def _with_json(self, names):
        from django.db.models import JSONField

        json_fields = {f.name for f in self.model._meta.concrete_fields if isinstance(f, JSONField)}
        return [self._json_display(n) if n in json_fields else n for n in names]

    def get_fields(self, request, obj=None):
        return self._with_json(super().get_fields(request, obj))

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return [
            (title, {**options, "fields": self._with_json(options.get("fields", []))})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        from django.db.models import JSONField

        names = list(super().get_readonly_fields(request, obj))
        json_fields = [f.name for f in self.model._meta.concrete_fields if isinstance(f, JSONField)]
        return self._with_json(names) + [
            self._json_display(n) for n in json_fields if self._json_display(n) not in names
        ]


def no_wrap(text) -> str:
    return format_html('<span style="white-space:nowrap">{}</span>', text)


STYLE = mark_safe(
    "<style>table.pitboss-readable{border-collapse:collapse;margin:0}"
    "table.pitboss-readable th,table.pitboss-readable td{padding:2px 8px 2px 0;"
    "border:none;vertical-align:top;font-size:inherit}"
    "table.pitboss-readable th{font-weight:600;text-align:left;color:var(--body-quiet-color)}"
    "table.pitboss-history>tbody>tr>td{border-bottom:1px solid var(--hairline-color)}</style>"
)
