"""`{% load pitboss_home %}{% pitboss_home_panel as home %}`: the admin home panel's context
(monitoring.home.home_panel) for the signed-in user; used by templates/admin/index.html."""

from django import template

from monitoring.home import home_panel

register = template.Library()


@register.simple_tag(takes_context=True)
def pitboss_home_panel(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"cards": [], "roles": [], "time_zone": "", "now": None}
    return home_panel(user)
