"""The fraud rules in the admin: version history with restore, the backtest form and its
report page with progress, the shadow comparison page, and lists with their entries (a bad
entry is a form error naming the problem, nothing saved)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from fraud import backtest as runner
from fraud import screening, services
from fraud.choices import RuleKind
from fraud.models import Backtest, FraudList, FraudRule, ListEntry, RuleVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_(*groups, superuser=False):
        user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        client.user = user
        return client

    return as_


def velocity():
    return FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY)


def test_history_pages_render_and_a_past_version_is_restored(login):
    client = login("compliance")
    first = services.live_version(velocity())
    draft = services.create_draft(
        rule=velocity(), actor=client.user, parameters={"max_withdrawals": 2}
    )
    services.publish_version(version_id=draft.pk, actor=client.user)
    rule_page = client.get(reverse("admin:fraud_fraudrule_change", args=[velocity().pk]))
    assert rule_page.status_code == 200
    text = rule_page.content.decode()
    assert ">v1<" in text and ">v2<" in text and "superseded" in text.lower()
    page = client.get(reverse("admin:fraud_ruleversion_change", args=[first.pk])).content.decode()
    assert "max_withdrawals" in page and "Run a backtest" in page
    response = client.post(
        reverse("admin:fraud_ruleversion_changelist"),
        {
            "action": "restore_as_draft",
            ACTION_CHECKBOX_NAME: [first.pk],
            "apply": "1",
            "reason": "back",
        },
    )
    assert response.status_code == 302
    restored = RuleVersion.objects.get(rule=velocity(), number=3)
    assert restored.state == "draft" and restored.parameters == first.parameters
    assert restored.restored_from == first
    # Its page shows what it changes against the live version.
    page = client.get(
        reverse("admin:fraud_ruleversion_change", args=[restored.pk])
    ).content.decode()
    assert "parameters.max_withdrawals" in page


def test_back_office_cannot_publish_from_the_admin(login):
    draft = services.create_draft(rule=velocity(), actor=None, parameters={"max_withdrawals": 1})
    client = login("back_office")
    assert client.get(reverse("admin:fraud_ruleversion_changelist")).status_code == 200
    client.post(
        reverse("admin:fraud_ruleversion_changelist"),
        {
            "action": "publish_versions",
            ACTION_CHECKBOX_NAME: [draft.pk],
            "apply": "1",
            "reason": "x",
        },
    )
    draft.refresh_from_db()
    assert draft.state == "draft"


def test_a_backtest_is_started_from_the_admin_and_its_report_shown(
    login, django_capture_on_commit_callbacks, monkeypatch
):
    from fraud import tasks

    queued = []
    monkeypatch.setattr(tasks.run_backtest, "delay", lambda backtest_id: queued.append(backtest_id))
    client = login("compliance")
    version = services.live_version(velocity())
    url = reverse("admin:fraud_ruleversion_backtest", args=[version.pk])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"days": "0"})
    assert bad.status_code == 200 and bad.context["form"].errors["days"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"days": "7"})
    backtest = Backtest.objects.get()
    assert response.status_code == 302 and queued == [backtest.pk]
    page = client.get(reverse("admin:fraud_backtest_change", args=[backtest.pk])).content.decode()
    assert "not finished yet" in page and 'value="0"' in page
    runner.run_backtest(backtest_id=backtest.pk)
    page = client.get(reverse("admin:fraud_backtest_change", args=[backtest.pk])).content.decode()
    assert 'id="backtest-report"' in page and "precision" in page and 'value="100"' in page
    listing = client.get(reverse("admin:fraud_backtest_changelist"))
    assert listing.status_code == 200


def test_the_shadow_page_compares_live_and_shadow(login, money, new_player):
    client = login("compliance")
    draft = services.create_draft(
        rule=velocity(), actor=client.user, parameters={"max_withdrawals": 1}
    )
    client.post(
        reverse("admin:fraud_ruleversion_changelist"),
        {"action": "start_shadow", ACTION_CHECKBOX_NAME: [draft.pk], "apply": "1", "reason": "try"},
    )
    draft.refresh_from_db()
    assert draft.state == "shadow"
    player = new_player(100_00)
    for _ in range(3):
        money.withdraw(player, 1_00)
    screening.shadow_recorder.flush()
    page = client.get(reverse("admin:fraud_ruleversion_shadow", args=[draft.pk]) + "?hours=1")
    assert page.status_code == 200
    comparison = page.context["comparison"]
    assert (comparison["calls"], comparison["agree"], comparison["only_shadow"]) == (3, 1, 2)
    assert client.get(reverse("admin:fraud_shadowdecision_changelist")).status_code == 200
    assert (
        client.get(
            reverse("admin:fraud_ruleversion_shadow", args=[draft.pk]) + "?hours=x"
        ).status_code
        == 200
    )


def test_the_shadow_page_lists_the_disagreements_of_its_window_in_readable_money(login):
    """The latest disagreements are those of the window the counts are of (an older one is
    neither counted nor listed), with amounts as people read them."""
    from datetime import timedelta

    from django.utils import timezone

    from fraud.models import ShadowDecision

    client = login("compliance")
    live = services.live_version(velocity())
    draft = services.create_draft(
        rule=velocity(), actor=client.user, parameters={"max_withdrawals": 1}
    )
    services.start_shadow(version_id=draft.pk, actor=client.user, reason="try")
    player = factories.make_player()
    now = timezone.now()
    for amount, age in ((12_50, timedelta(minutes=5)), (1_000_00, timedelta(days=2))):
        ShadowDecision.objects.create(
            version=draft,
            rule_key=RuleKind.WITHDRAWAL_VELOCITY,
            request_kind="withdrawal",
            player_id=player.pk,
            wallet_id=0,
            currency="EUR",
            amount_minor=amount,
            live_action="allow",
            live_version=live,
            shadow_action="hold",
            created_at=now - age,
        )
    url = reverse("admin:fraud_ruleversion_shadow", args=[draft.pk])
    page = client.get(url)
    assert page.context["comparison"]["disagree"] == 1
    assert [d.amount_minor for d in page.context["recent"]] == [12_50]
    assert "12.50 EUR" in page.content.decode() and "1,000.00 EUR" not in page.content.decode()
    wider = client.get(url + "?hours=72")
    assert wider.context["comparison"]["disagree"] == 2
    assert [d.amount_minor for d in wider.context["recent"]] == [12_50, 1_000_00]
    assert "1,000.00 EUR" in wider.content.decode()


def test_lists_are_edited_in_the_admin_and_bad_entries_are_form_errors(login):
    client = login("compliance")
    add = reverse("admin:fraud_fraudlist_add")
    assert (
        client.post(
            add, {"name": "ranges", "kind": "ip", "purpose": "block", "enabled": "on"}
        ).status_code
        == 302
    )
    fraud_list = FraudList.objects.get(name="ranges")
    assert fraud_list.created_by == client.user
    url = reverse("admin:fraud_fraudlist_change", args=[fraud_list.pk])

    def post(value, reason="ring"):
        return client.post(
            url,
            {
                "name": "ranges",
                "purpose": "block",
                "enabled": "on",
                "description": "",
                "entries-TOTAL_FORMS": "1",
                "entries-INITIAL_FORMS": "0",
                "entries-MIN_NUM_FORMS": "0",
                "entries-MAX_NUM_FORMS": "1000",
                "entries-0-value": value,
                "entries-0-reason": reason,
                "entries-0-expires_at_0": "",
                "entries-0-expires_at_1": "",
            },
        )

    bad = post("10.0.0.1/8")
    assert bad.status_code == 200 and "host bits set" in bad.content.decode()
    bad = post("10.0.0.0/8", reason="")
    assert bad.status_code == 200
    assert not ListEntry.objects.exists()
    assert post("10.0.0.0/8").status_code == 302
    entry = ListEntry.objects.get()
    assert (entry.value, entry.added_by, entry.reason) == ("10.0.0.0/8", client.user, "ring")
    assert client.get(reverse("admin:fraud_listentry_changelist")).status_code == 200

    # The same value in another spelling, already on the list or twice in one save: an error on
    # the field, the typed rows shown again, nothing saved.
    again = post("10.0.0.0/08")
    assert again.status_code == 200
    assert "10.0.0.0/8 is already on ranges" in again.content.decode()
    twice = client.post(
        url,
        {
            "name": "ranges",
            "purpose": "block",
            "enabled": "on",
            "description": "",
            "entries-TOTAL_FORMS": "2",
            "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "1000",
            **{
                f"entries-{n}-{field}": ""
                for n in (0, 1)
                for field in ("expires_at_0", "expires_at_1")
            },
            "entries-0-value": "192.0.2.7",
            "entries-0-reason": "ring",
            "entries-1-value": "192.0.2.7/32",
            "entries-1-reason": "ring again",
        },
    )
    assert twice.status_code == 200
    page = twice.content.decode()
    assert "Please correct the duplicate data for value." in page
    assert 'value="192.0.2.7"' in page and "ring again" in page
    assert list(ListEntry.objects.values_list("value", flat=True)) == ["10.0.0.0/8"]

    countries = FraudList.objects.create(name="countries", kind="country", purpose="review")
    response = client.post(
        reverse("admin:fraud_fraudlist_change", args=[countries.pk]),
        {
            "name": "countries",
            "purpose": "review",
            "enabled": "on",
            "entries-TOTAL_FORMS": "1",
            "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "1000",
            "entries-0-value": "Atlantis",
            "entries-0-reason": "x",
        },
    )
    assert response.status_code == 200 and "not a country" in response.content.decode()
