"""The admin home panel without a browser: role order, permissions, empty states, the time zone,
and a broken published figure that must not break the front page."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from monitoring import home
from tests import factories
from wallets import hooks

pytestmark = pytest.mark.django_db


def _cards(user):
    return [card.key for card in home.home_panel(user)["cards"]]


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_each_role_sees_its_cards_first_and_only_what_it_may_see():
    factories.make_provider("acme")
    assert _cards(factories.UserFactory(groups=["support"]))[:2] == ["sessions", "providers"]
    compliance = _cards(factories.UserFactory(groups=["compliance"]))
    assert compliance[:3] == ["providers", "violations", "alerts"]
    assert "holds" not in compliance and "sessions" not in compliance
    assert _cards(factories.UserFactory(groups=["back_office"]))[:3] == [
        "holds",
        "alerts",
        "discrepancies",
    ]
    integrator = _cards(factories.UserFactory(groups=["integrator"]))
    assert integrator[:3] == ["providers", "api_docs", "reports"]
    assert "alerts" not in integrator and "holds" not in integrator
    superuser = factories.UserFactory(is_superuser=True)
    assert _cards(superuser)[0] == "providers" and "holds" in _cards(superuser)


def test_a_user_without_a_role_gets_a_helpful_empty_state():
    response = _client(factories.UserFactory()).get("/admin/")
    assert response.status_code == 200
    assert b"ask an administrator to give you a role" in response.content
    # The project's link list stays.
    assert b'href="/admin/monitoring/dashboard/"' in response.content


def test_empty_states_when_nothing_needs_attention():
    response = _client(factories.UserFactory(groups=["back_office"])).get("/admin/")
    body = response.content.decode()
    assert "No hold is waiting for a decision." in body
    assert "No open alert: every rule is quiet." in body
    assert "No provider is configured yet" in body


def test_times_are_in_the_operators_time_zone(settings, monkeypatch):
    settings.TIME_ZONE = "Europe/Malta"
    monkeypatch.setitem(hooks.metric_sources, "fraud_oldest_hold_seconds", lambda: {0: 3_900.0})
    user = factories.UserFactory(groups=["back_office"])
    response = _client(user).get("/admin/")
    body = response.content.decode()
    assert "Times are shown in Europe/Malta" in body
    assert "1 h 5 min" in body
    since = timezone.localtime(timezone.now() - timedelta(seconds=3_900))
    assert since.strftime("%Y-%m-%d %H:") in body  # local wall time, not UTC
    assert "CET" in body or "CEST" in body


def test_a_failing_figure_shows_as_unavailable_not_an_error(monkeypatch):
    def broken(queryset):
        raise RuntimeError("reconciliation database away")

    listed = hooks.attention_lists["discrepancies_open"]
    monkeypatch.setitem(
        hooks.attention_lists,
        "discrepancies_open",
        hooks.AttentionList(broken, changelist=listed.changelist, query=listed.query),
    )
    response = _client(factories.UserFactory(groups=["back_office"])).get("/admin/")
    assert response.status_code == 200
    assert b"The drift figure is not available" in response.content


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5 s"), (125, "2 min"), (3_600, "1 h"), (3_900, "1 h 5 min"), (90_000, "1 d 1 h")],
)
def test_age_text(seconds, text):
    assert home.age_text(seconds) == text
