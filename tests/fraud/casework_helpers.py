"""Helpers of the case-manager tests: cases of any kind and age, and level-2 reviewers."""

from datetime import timedelta

from django.contrib.auth.models import Permission
from django.utils import timezone

from fraud.models import Case
from tests import factories


def make_case(player, *, kind="flag", age_minutes=0, rules=("multi_account_ip",), **fields):
    case = Case.objects.create(
        kind=kind,
        player=player,
        rule_keys=list(rules),
        hits=[{"rule": rule, "action": "flag", "figures": {"accounts": 6}} for rule in rules],
        **fields,
    )
    if age_minutes:
        Case.objects.filter(pk=case.pk).update(
            created_at=timezone.now() - timedelta(minutes=age_minutes)
        )
        case.refresh_from_db()
    return case


def level2_reviewer(**kwargs):
    user = factories.UserFactory(groups=["back_office"], **kwargs)
    user.user_permissions.add(Permission.objects.get(codename="decide_escalated_case"))
    return type(user).objects.get(pk=user.pk)  # a fresh object: no stale permission cache
