from django import template
from django.utils.html import format_html, format_html_join

from wallets.shown_once import take_to_show

register = template.Library()


@register.simple_tag(takes_context=True)
def secrets_shown_once(context) -> str:
    """The secrets waiting in the session (wallets.shown_once), as warning messages; taken out
    of the session as they are rendered."""
    request = context.get("request")
    shown = take_to_show(request) if request is not None else []
    if not shown:
        return ""
    items = format_html_join(
        "",
        '<li class="warning">{} (shown once, store it now): <code class="pitboss-secret">{}</code>'
        "</li>",
        ((item["label"], item["secret"]) for item in shown),
    )
    return format_html('<ul class="messagelist">{}</ul>', items)
