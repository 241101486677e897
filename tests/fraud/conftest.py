"""Fixtures of the fraud tests: the fraud app's hooks installed (and restored afterwards), the
rule cache cleared around every test, and ledger calls whose after-commit listeners run."""

import itertools

import pytest

from fraud import lists, screening
from tests import factories
from wallets import hooks, ledger

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fraud_hooks():
    """The fraud screener, baseline listener and decline recorder, exactly as ready() installs
    them; whatever was installed before is put back after the test, and the rule cache never
    carries a test's (rolled back) rule edits into another test."""
    saved = (hooks.screener, list(hooks.ledger_listeners), list(hooks.decline_recorders))
    hooks.screener = screening.screen
    hooks.ledger_listeners[:] = [screening.on_ledger_row]
    hooks.decline_recorders[:] = [screening.on_decline]
    screening.invalidate_rule_cache()
    lists.invalidate_list_cache()
    # Shadow decisions are written by explicit flush() calls in the test's own transaction.
    screening.shadow_recorder.threaded = False
    screening.shadow_recorder.pending.clear()
    try:
        yield
    finally:
        screening.shadow_recorder.pending.clear()
        screening.shadow_recorder.threaded = True
        screening.invalidate_rule_cache()
        lists.invalidate_list_cache()
        hooks.screener = saved[0]
        hooks.ledger_listeners[:] = saved[1]
        hooks.decline_recorders[:] = saved[2]


class Money:
    """Ledger calls as the wallet API makes them, with their after-commit listeners run (the
    test's transaction never commits, so they are captured and executed)."""

    def __init__(self, capture):
        self.capture = capture

    def _run(self, call, **kwargs):
        with self.capture(execute=True):
            return call(**kwargs)

    def deposit(self, player, amount_minor, *, ip=None, currency="EUR"):
        return self._run(
            ledger.deposit,
            player=player,
            currency=currency,
            amount_minor=amount_minor,
            external_id=f"dep-{next(_ids)}",
            context=ledger.CallContext(client_ip=ip),
        )

    def withdraw(self, player, amount_minor, *, ip=None, currency="EUR"):
        return self._run(
            ledger.withdraw,
            player=player,
            currency=currency,
            amount_minor=amount_minor,
            external_id=f"wd-{next(_ids)}",
            context=ledger.CallContext(client_ip=ip),
        )

    def bet(self, session, amount_minor, *, provider=None, currency="EUR"):
        return self._run(
            ledger.bet,
            provider=provider or session.provider,
            session=session,
            transaction_id=f"bet-{next(_ids)}",
            round_id=f"round-{next(_ids)}",
            amount_minor=amount_minor,
            currency=currency,
        )

    def authenticated_session(self, player, provider):
        session, _ = factories.open_session(player, provider)
        return ledger.authenticate(provider=provider, session=session)


@pytest.fixture
def money(django_capture_on_commit_callbacks):
    return Money(django_capture_on_commit_callbacks)


def make_player(funds_minor=0, *, ip=None, money=None):
    """A player registered from their own address (the factory default is shared by all)."""
    player = factories.make_player(registration_ip=ip or f"192.0.2.{next(_ids) % 250 + 1}")
    if funds_minor:
        money.deposit(player, funds_minor)
    return player


@pytest.fixture
def new_player(money, db):
    def create(funds_minor=0, *, ip=None):
        return make_player(funds_minor, ip=ip, money=money)

    return create


@pytest.fixture
def staff():
    def create(*groups, superuser=False):
        return factories.UserFactory(groups=list(groups), is_superuser=superuser)

    return create


def publish_rule(key, **changes):
    """Change a rule's live settings as staff do: a draft published at once (audited)."""
    from fraud import services
    from fraud.models import FraudRule

    return services.update_rule(
        rule=FraudRule.objects.get(key=key),
        actor=factories.UserFactory(is_superuser=True),
        reason="test settings",
        **changes,
    )
