"""List pages over a large ledger: lean page counts, searches and filters answered by
indexes, and the indexes they need. The figures at ten million rows are bench/list_pages.py's
and bench/reconciliation_incremental.py's; here, the behaviour on small data, with the
exact-count limit lowered where a test needs to go past it."""

import re

import pytest
from django.db import connection
from django.http import QueryDict
from django.urls import reverse
from rest_framework.test import APIClient

from bench import ledger_scale
from reconciliation import services as reconciliation
from tests import factories
from wallets import admin as wallets_admin
from wallets import ledger
from wallets.api import pagination
from wallets.filtersets import (
    SessionFilterSet,
    TransactionFilterSet,
    transaction_external_id_q,
)
from wallets.models import GameSession, Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(factories.UserFactory(is_superuser=True))
    return client


@pytest.fixture
def admin_client(client):
    client.force_login(factories.UserFactory(is_superuser=True))
    return client


@pytest.fixture
def bet(player, wallet_api, token):
    """A provider's bet ("b1", round "r1") of `player`, after the player's seed deposit."""
    wallet_api.call("authenticate", session_token=token)
    response = wallet_api.call(
        "bet", session_token=token, transaction_id="b1", round_id="r1", amount="5", currency="EUR"
    )
    assert response.status_code == 200, response.content
    return Transaction.objects.get(kind="bet", external_id="b1")


# --- the count ------------------------------------------------------------------------------


def test_api_count_is_exact_up_to_the_limit_and_a_flagged_estimate_past_it(api, monkeypatch):
    players = [factories.funded_player(10_00) for _ in range(3)]  # one deposit row each

    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 3)
    exact = api.get("/api/v1/transactions/")
    assert exact.status_code == 200
    assert exact.json()["count"] == 3
    assert pagination.ESTIMATE_HEADER not in exact

    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 2)
    past = api.get("/api/v1/transactions/")
    body = past.json()
    assert set(body) == {"count", "next", "previous", "results"}  # the contract's shape
    assert past[pagination.ESTIMATE_HEADER] == "true"
    assert body["count"] >= 3  # never below what was seen: the limit + 1 at least
    assert len(body["results"]) == 3

    # A filter matching no more than the limit is counted exactly, however large the table.
    mine = api.get(f"/api/v1/transactions/?player={players[0].pk}")
    assert mine.json()["count"] == 1
    assert pagination.ESTIMATE_HEADER not in mine


def test_the_estimate_is_the_planners_row_estimate():
    for _ in range(3):
        factories.funded_player(10_00)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE wallets_transaction")
    everything = Transaction.objects.all()
    # The ledger is partitioned: the planner counts at least one row for each empty partition
    # (months ahead), a few rows against the millions an estimate is used for.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'wallets_transaction'::regclass"
        )
        (partitions,) = cursor.fetchone()
    estimate = pagination.planner_estimate(everything)
    assert 3 <= estimate <= 3 + partitions
    assert pagination.lean_count(everything, limit=2) == (estimate, True)
    assert pagination.lean_count(everything, limit=3) == (3, False)
    assert pagination.lean_count([1, 2, 3, 4], limit=2) == (4, False)  # a list is just counted


def test_admin_transactions_changelist_uses_the_lean_count(admin_client, monkeypatch):
    for _ in range(3):
        factories.funded_player(10_00)
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 2)
    response = admin_client.get(reverse("admin:wallets_transaction_changelist"))
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert isinstance(changelist.paginator, pagination.LeanCountPaginator)
    assert changelist.paginator.count_is_estimate
    assert changelist.result_count >= 3
    assert len(changelist.result_list) == 3


@pytest.mark.parametrize("model", ["player", "wallet", "gamesession", "round", "auditrecord"])
def test_other_large_changelists_use_the_lean_count(admin_client, bet, model):
    response = admin_client.get(reverse(f"admin:wallets_{model}_changelist"))
    assert response.status_code == 200
    assert isinstance(response.context["cl"].paginator, pagination.LeanCountPaginator)
    assert response.context["cl"].result_count == len(response.context["cl"].result_list)


def test_admin_currency_filter_offers_the_wallets_currencies_and_filters(admin_client):
    factories.funded_player(10_00, currency="EUR")
    factories.funded_player(1000, currency="JPY")
    url = reverse("admin:wallets_transaction_changelist")
    page = admin_client.get(url)
    choices = {
        choice["display"]
        for spec in page.context["cl"].filter_specs
        if spec.title == "currency"
        for choice in spec.choices(page.context["cl"])
    }
    assert {"EUR", "JPY"} <= choices
    yen = admin_client.get(url, {"currency": "JPY"}).context["cl"].result_list
    assert [row.currency for row in yen] == ["JPY"]


# --- searches and filters -------------------------------------------------------------------


def _search(admin_client, term: str) -> list[int]:
    response = admin_client.get(reverse("admin:wallets_transaction_changelist"), {"q": term})
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list]


def test_admin_search_by_row_id_transaction_id_round_id_and_player(admin_client, bet, player):
    deposit = Transaction.objects.get(player=player, kind="deposit")
    other = factories.funded_player(10_00, external_id="someone-else")
    other_deposit = Transaction.objects.get(player=other)

    assert _search(admin_client, "b1") == [bet.pk]
    assert _search(admin_client, "r1") == [bet.pk]
    assert _search(admin_client, str(bet.pk)) == [bet.pk]
    assert _search(admin_client, deposit.external_id) == [deposit.pk]
    assert _search(admin_client, player.external_id) == [bet.pk, deposit.pk]
    assert _search(admin_client, "someone") == [other_deposit.pk]  # part of the player's id
    assert _search(admin_client, f"{player.external_id} b1") == [bet.pk]  # words are AND-ed
    assert _search(admin_client, '"b1"') == [bet.pk]
    # A word naming a round and a player finds both.
    fan = factories.funded_player(10_00, external_id="r1-fan")
    fan_deposit = Transaction.objects.get(player=fan)
    assert _search(admin_client, "r1") == [fan_deposit.pk, bet.pk]
    # Transaction and round ids are matched exactly (as stored), which the indexes answer.
    assert _search(admin_client, "B1") == []
    assert _search(admin_client, "nothing-like-it") == []
    # A NUL (which PostgreSQL text cannot hold) is refused by the admin's search form: no 500.
    nul = admin_client.get(reverse("admin:wallets_transaction_changelist"), {"q": "b1\x00"})
    assert nul.status_code == 200


def test_admin_search_matching_many_players_still_finds_their_rows(admin_client, monkeypatch):
    players = [factories.funded_player(10_00, external_id=f"crowd-{n}") for n in range(3)]
    monkeypatch.setattr(wallets_admin, "SEARCH_PLAYERS_AS_LIST", 1)  # 3 players: the subquery
    found = _search(admin_client, "crowd-")
    assert sorted(found) == sorted(
        Transaction.objects.filter(player__in=players).values_list("pk", flat=True)
    )


def test_api_external_id_filter_finds_provider_and_payment_rows(api, bet, player):
    payment = ledger.deposit(
        player=player, currency="EUR", amount_minor=1_00, external_id="b1"
    ).transaction
    body = api.get("/api/v1/transactions/?external_id=b1").json()
    assert sorted(row["id"] for row in body["results"]) == sorted([bet.pk, payment.pk])
    assert api.get("/api/v1/transactions/?external_id=b2").json()["count"] == 0
    assert set(Transaction.objects.filter(transaction_external_id_q("b1"))) == {bet, payment}


def test_kind_and_status_filters_do_not_select_distinct(api, bet):
    data = QueryDict("kind=bet&kind=win&status=posted")
    listed = TransactionFilterSet(data, queryset=Transaction.objects.all()).qs
    assert not listed.query.distinct  # DISTINCT would read every matching row before LIMIT
    assert list(listed) == [bet]
    sessions = SessionFilterSet(QueryDict("status=open"), queryset=GameSession.objects.all()).qs
    assert not sessions.query.distinct


# --- the indexes ----------------------------------------------------------------------------


def _index_definitions() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'wallets_transaction'"
        )
        return dict(cursor.fetchall())


def test_the_list_page_indexes_exist():
    indexes = _index_definitions()
    assert "txn_by_wallet" not in indexes  # replaced by the covering one
    assert (
        "(wallet_id, id DESC) INCLUDE (status, delta_minor, amount_minor)"
        in (indexes["txn_by_wallet_covering"])
    )
    assert "(round_external_id)" in indexes["txn_by_round_external_id"]
    assert (
        "WHERE (NOT ((round_external_id)::text = ''::text))" in indexes["txn_by_round_external_id"]
    )
    assert "(status, id DESC) INCLUDE (provider_id, kind)" in indexes["txn_not_posted"]
    assert "WHERE (NOT ((status)::text = 'posted'::text))" in indexes["txn_not_posted"]


@pytest.fixture
def ledger_20k():
    """A 20,000-row ledger over 1,000 wallets, loaded as bench/ledger_scale.py loads it (in this
    test's transaction), analysed: large enough for the planner to prefer indexes."""
    with connection.cursor() as cursor:
        for _label, statement in ledger_scale._sql(20_000, 1_000):
            cursor.execute(statement)
        cursor.execute("ANALYZE")


def _plan(queryset_or_sql, params=None, verbose=False) -> str:
    if not isinstance(queryset_or_sql, str):
        queryset_or_sql, params = queryset_or_sql.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN VERBOSE " if verbose else "EXPLAIN ") + queryset_or_sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_list_filters_and_searches_are_answered_by_indexes(ledger_20k):
    row = Transaction.objects.filter(kind="bet").order_by("-id")[100]
    by_external_id = _plan(Transaction.objects.filter(transaction_external_id_q(row.external_id)))
    assert "txn_by_provider_id" in by_external_id
    assert "txn_by_payment_id" in by_external_id
    # No partition holding rows is read whole (the empty months ahead cost nothing to scan).
    assert "Seq Scan on wallets_transaction_history" not in by_external_id
    by_round = _plan(Transaction.objects.filter(round_external_id=row.round_external_id))
    assert "txn_by_round_external_id" in by_round
    rolled_back = _plan(Transaction.objects.filter(status="rolled_back").order_by("-id")[:50])
    assert "txn_not_posted" in rolled_back
    assert Transaction.objects.filter(status="rolled_back").exists()


def test_a_players_search_is_their_rows_alone(ledger_20k, rf):
    # The usual search: a word naming one player and no ledger row. Its condition is the
    # player's alone, so that a page is read in id order from the player's index in each
    # partition (on a large ledger; bench/list_pages.py), where an OR with the id matches made
    # PostgreSQL fetch and sort the player's whole history for one page.
    row = Transaction.objects.filter(kind="bet").order_by("-id")[100]
    word = row.player.external_id
    model_admin = wallets_admin.admin.site._registry[Transaction]
    found, _ = model_admin.get_search_results(rf.get("/"), Transaction.objects.all(), word)
    where = str(found.order_by().query).split(" WHERE ", 1)[1]
    assert where == f'"wallets_transaction"."player_id" IN ({row.player_id})'
    assert list(found.order_by("-id")[:100]) == list(
        Transaction.objects.filter(player=row.player).order_by("-id")[:100]
    )


def test_a_time_window_is_read_along_the_time_index_newest_first(ledger_20k, api):
    rows = Transaction.objects.order_by("id")
    window = {
        "created_after": rows[5_000].created_at.isoformat(),
        "created_before": rows[6_000].created_at.isoformat(),
    }
    listed = TransactionFilterSet(window, queryset=Transaction.objects.all()).qs
    assert "txn_by_time" in _plan(listed[:50])

    body = api.get("/api/v1/transactions/", window).json()
    ids = [row["id"] for row in body["results"]]
    assert body["count"] == 1_000
    assert ids == list(range(rows[5_999].pk, rows[5_999].pk - 50, -1))  # newest first
    oldest_first = api.get("/api/v1/transactions/", {**window, "ordering": "id"}).json()
    assert oldest_first["results"][0]["id"] == rows[5_000].pk  # ?ordering= still wins


@pytest.mark.django_db(transaction=True)
def test_a_wallets_ledger_sums_are_read_from_the_covering_index_alone(ledger_20k):
    # Whether the planner picks an index-only scan also depends on the visibility map, which any
    # older snapshot on the server (another connection, a standby's feedback) keeps VACUUM from
    # setting. What the statement controls is that the index covers every column it reads from
    # the ledger: the scans' outputs and conditions, as EXPLAIN VERBOSE names them.
    plan = _plan(
        reconciliation._WALLET_CHECK_SQL,
        {"ids": list(range(1, 11)), "full": True, **reconciliation.ledger_ranges()},
        verbose=True,
    )
    # The ledger is partitioned: no partition holding rows is read whole (the empty months
    # ahead cost nothing to scan); every partition's scan counts as a read of the ledger.
    assert "Seq Scan on public.wallets_transaction_history" not in plan
    ledger_scans = re.findall(
        r"Scan(?: Backward)?(?: using \w+)? on public\.wallets_transaction\w* (\w+).*?\n"
        r"((?:\s+(?:Output|Index Cond|Filter|Recheck Cond): .*\n)+)",
        plan,
    )
    read = {
        column
        for alias, details in ledger_scans
        for column in re.findall(rf"\b{alias}\.(\w+)", details)
    }
    assert {"wallet_id", "id", "status", "delta_minor", "amount_minor"} <= read
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT array_agg(a.attname) FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
               WHERE i.indexrelid = 'txn_by_wallet_covering'::regclass"""
        )
        (covered,) = cursor.fetchone()
    assert read <= set(covered), f"read outside the covering index: {read - set(covered)}"
    # The loaded ledger is consistent: a full run finds no drift in any wallet.
    run = reconciliation.reconcile_wallets(full=True)
    assert run.wallets_checked == 1_000
    assert run.counts["matched"] == 1_000
