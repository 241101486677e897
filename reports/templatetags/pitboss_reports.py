from django import template

from reports.selectors import human

register = template.Library()


@register.filter
def money(row, attribute: str) -> str:
    """`row`'s figure `attribute` (minor units) as people read it: "1,234.50 EUR"."""
    return human(getattr(row, attribute), row.currency)


@register.filter
def minor(value: int, currency: str) -> str:
    return human(value, currency)
