import pytest

from tests import factories
from tests.wallets.test_ledger import quiet_hooks  # noqa: F401 - no other app's hooks here
from wallets import hooks


@pytest.fixture
def hold_marked_amounts():
    """A screener holding every deposit, withdrawal and win whose amount ends in 77 minor units
    (so a test decides which transactions are held)."""
    saved = hooks.screener

    def screener(request: hooks.ScreeningRequest) -> hooks.Screening:
        if request.kind in ("deposit", "withdrawal", "win") and request.amount_minor % 100 == 77:
            return hooks.Screening(action=hooks.HOLD, hits=({"rule": "test"},))
        return hooks.ALLOW_ALL

    hooks.screener = screener
    try:
        yield
    finally:
        hooks.screener = saved


@pytest.fixture
def two_staff(db):
    return factories.UserFactory(), factories.UserFactory()
