"""Back-office reads from a real streaming standby (make test starts one beside the private
PostgreSQL: scripts/services.sh), with the lag guard, read-your-writes after a change, and
authentication always on the primary."""

import os
import time
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from config import replica
from tests import factories

REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")

pytestmark = [
    pytest.mark.skipif(
        not REPLICA_URL,
        reason="no DATABASE_REPLICA_URL: make test starts a standby (PITBOSS_REPLICA=1)",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
    # Some of these pause the standby's replay, which every reader of it would see: under
    # pytest-xdist they all run in one worker, one after another.
    pytest.mark.xdist_group("standby"),
]


@pytest.fixture(autouse=True)
def standby(settings):
    """The `replica` alias pointed at the real standby (the suite makes it a mirror of the
    test database on the primary, which replication copies to the standby), replica reads on."""
    address = urlsplit(REPLICA_URL)
    connection = connections["replica"]
    saved = (connection.settings_dict["HOST"], connection.settings_dict["PORT"])
    connection.close()
    connection.settings_dict["HOST"] = address.hostname
    connection.settings_dict["PORT"] = str(address.port)
    settings.REPLICA_READS = True
    settings.REPLICA_MAX_LAG_SECONDS = 5.0
    settings.REPLICA_CHECK_SECONDS = 0.0
    replica.forget_state()
    yield connection
    connection.close()
    connection.settings_dict["PORT"] = str(address.port)  # a test may have moved it
    _resume_replay(connection)
    connection.close()
    connection.settings_dict["HOST"], connection.settings_dict["PORT"] = saved
    replica.forget_state()


def _resume_replay(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_is_wal_replay_paused()")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT pg_wal_replay_resume()")


def replayed(standby, limit_s: float = 30.0) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (target,) = cursor.fetchone()
    give_up = time.monotonic() + limit_s
    while True:
        with standby.cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < give_up, "the standby did not replay the primary's writes"
        time.sleep(0.05)


def pause_replay(standby) -> None:
    with standby.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    give_up = time.monotonic() + 30
    while True:
        with standby.cursor() as cursor:
            cursor.execute("SELECT pg_get_wal_replay_pause_state()")
            if cursor.fetchone()[0] == "paused":
                return
        assert time.monotonic() < give_up
        time.sleep(0.05)


@pytest.fixture
def staff(client):
    client.force_login(factories.UserFactory(is_superuser=True, is_staff=True))
    return client


def test_a_list_page_reads_the_replica_once_it_has_the_rows(staff, standby):
    factories.make_player(external_id="seen-on-the-replica")
    replayed(standby)

    with CaptureQueriesContext(standby) as on_replica:
        page = staff.get("/admin/wallets/player/")

    assert page.status_code == 200
    assert page["X-Read-From"].startswith("replica; lag=")
    assert b"seen-on-the-replica" in page.content
    assert any("wallets_player" in q["sql"] for q in on_replica.captured_queries)
    assert b"Read from the replica" in page.content


def test_authentication_reads_the_primary_and_the_page_the_replica(settings, standby, client):
    """The replica has neither the user nor their session yet, the page is served anyway:
    users, sessions and tokens are read on the primary. The players list is the replica's: the
    player written while replay was paused is not on it."""
    settings.REPLICA_MAX_LAG_SECONDS = 3600
    factories.make_player(external_id="before-the-pause")
    replayed(standby)
    pause_replay(standby)
    factories.make_player(external_id="after-the-pause")
    client.force_login(factories.UserFactory(is_superuser=True, is_staff=True))

    page = client.get("/admin/wallets/player/")

    assert page.status_code == 200, page.get("Location")
    assert page["X-Read-From"].startswith("replica")
    assert b"before-the-pause" in page.content
    assert b"after-the-pause" not in page.content


def test_a_replica_too_far_behind_is_passed_over_and_the_page_says_so(settings, staff, standby):
    settings.REPLICA_MAX_LAG_SECONDS = 0.2
    replayed(standby)
    pause_replay(standby)
    factories.make_player(external_id="written-during-the-pause")
    time.sleep(0.3)  # the replica's lag now exceeds the guard (it replays nothing)

    page = staff.get("/admin/wallets/player/")

    assert page.status_code == 200
    assert page["X-Read-From"].startswith("primary; lag=")
    assert "behind, over 0.2 s" in page["X-Read-From"]
    assert b"written-during-the-pause" in page.content

    _resume_replay(standby)
    replayed(standby)
    assert staff.get("/admin/wallets/player/")["X-Read-From"].startswith("replica")


def test_an_unreachable_replica_is_passed_over(staff, standby):
    standby.close()
    standby.settings_dict["PORT"] = "1"  # nothing listens there
    replica.forget_state()

    page = staff.get("/admin/wallets/player/")

    assert page.status_code == 200
    assert page["X-Read-From"].startswith("primary; reason=replica unreachable")


def test_a_write_never_reads_the_replica_and_its_author_then_reads_the_primary(standby, client):
    user = factories.UserFactory(is_superuser=True, is_staff=True)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    player = factories.make_player()
    replayed(standby)

    with CaptureQueriesContext(standby) as on_replica:
        deposit = client.post(
            "/api/v1/payments/deposits",
            {"player": player.pk, "amount": "5.00", "currency": "EUR", "external_id": "dep-r1"},
            content_type="application/json",
        )
    assert deposit.status_code == 201, deposit.content
    assert on_replica.captured_queries == []
    assert deposit["X-Read-From"] == "primary"

    listing = client.get("/api/v1/transactions/")
    assert listing["X-Read-From"] == "primary; reason=you changed something a moment ago"
    assert "dep-r1" in listing.content.decode()


def test_the_api_lists_read_the_replica_and_single_players_the_primary(standby, client):
    user = factories.UserFactory(is_superuser=True, is_staff=True)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    player = factories.funded_player(10_00)
    replayed(standby)

    assert client.get("/api/v1/transactions/")["X-Read-From"].startswith("replica")
    assert client.get(f"/api/v1/players/{player.pk}/")["X-Read-From"] == "primary"
