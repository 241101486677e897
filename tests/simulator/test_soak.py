"""The seeded money simulation (simulator.soak): a few short seeds against the production entry
point over real HTTP, and proofs that its checks catch what they are there to catch (a planted
violation of each invariant must be reported)."""

import itertools

import pytest
from django.db import connection, transaction
from django.db.models import F

from simulator import invariants, soak
from wallets import ledger
from wallets.models import Player, Transaction, Wallet

live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(production_hooks):
    """config.wsgi.application on a loopback port, as `make soak` serves it."""
    httpd, base_url = soak.start_server()
    try:
        yield base_url
    finally:
        httpd.shutdown()
        httpd.server_close()


def _report(result: soak.SeedResult) -> str:
    return "\n".join(
        f"[{check}] {problem}"
        for check, problems in result.violations.items()
        for problem in problems
    )


# --- the schedule ---------------------------------------------------------------------------


def test_a_seed_fixes_the_schedule():
    def first(seed, worker, n=300):
        ops = soak.schedule(seed, worker, players=2, providers=3)
        return list(itertools.islice(ops, n))

    assert first(5, 1) == first(5, 1)
    assert first(5, 1) != first(6, 1)
    assert first(5, 1) != first(5, 2)
    kinds = {op.kind for op in first(5, 1, 2000)}
    assert kinds >= {
        "deposit", "withdrawal", "launch", "bet", "late_bet", "win", "rollback", "repeat",
        "mismatch", "round_close", "close", "cashout", "probe", "balance",
    }  # fmt: skip
    # Ids are unique within a worker (and the run's prefix separates runs and workers).
    ids = [op.txn for op in first(5, 1, 2000) if op.txn and op.kind in {"bet", "win", "deposit"}]
    assert len(ids) == len(set(ids))


def test_parse_seeds():
    assert soak.parse_seeds("1-3") == [1, 2, 3]
    assert soak.parse_seeds("7") == [7]
    assert soak.parse_seeds("3,9,12-14,9") == [3, 9, 12, 13, 14]
    for bad in ["", "a", "5-2", "-1", "1-x"]:
        with pytest.raises(ValueError):
            soak.parse_seeds(bad)


# --- short seeds ----------------------------------------------------------------------------


@live
def test_short_seeds_hold_every_invariant(server):
    # Two seeds in one test: a transactional test's database flush costs more than a seed.
    for seed in (1, 2):
        result = soak.run_seed(seed, base_url=server, workers=3, steps=25)
        assert result.ok, f"seed {seed}:\n{_report(result)}"
        outcomes = {(kind, outcome) for kind, outcome in result.calls}
        assert ("bet", "OK") in outcomes and ("deposit", "201") in outcomes
        assert result.refused > 0 and result.refused == result.refused_checked
        assert len(result.violations) >= 10  # every check ran


# --- the checks catch planted violations ----------------------------------------------------


@pytest.fixture
def played(server):
    """One short seed played cleanly: its wallets and its ledger rows to plant into."""
    result = soak.run_seed(3, base_url=server, workers=2, steps=15, tag="plant")
    assert result.ok, _report(result)
    players = Player.objects.filter(external_id__startswith="soak-plant-3-")
    return invariants.wallets_of(players.values_list("pk", flat=True))


def _copy_row(row_id: int, **changes) -> None:
    """Insert a copy of a ledger row with some columns changed, behind the ledger's back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'wallets_transaction' AND column_name NOT IN ('id', 'chain_hash')"
        )
        columns = [name for (name,) in cursor.fetchall()]
        values = [("%s" if c in changes else c) for c in columns]
        cursor.execute(
            f"INSERT INTO wallets_transaction ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM wallets_transaction WHERE id = %s",
            [*(changes[c] for c in columns if c in changes), row_id],
        )


def _move_balance(wallet_id: int, delta: int) -> None:
    Wallet.objects.filter(pk=wallet_id).update(balance_minor=F("balance_minor") + delta)


def _planted(wallet_ids, plant) -> dict[str, list[str]]:
    """The checks' findings with `plant` applied, then the plant rolled back."""
    with transaction.atomic():
        plant()
        found = invariants.check_all(wallet_ids)
        transaction.set_rollback(True)
    return {name: problems for name, problems in found.items() if problems}


@live
def test_the_checks_catch_planted_violations(server, played):
    played_server = server
    wallet_ids = played
    assert not any(invariants.check_all(wallet_ids).values())
    bet = Transaction.objects.filter(wallet_id__in=wallet_ids, kind="bet", status="posted").first()
    assert bet is not None, "the seed placed no bet to plant into"
    wallet = bet.wallet_id

    # A cached balance edited behind the ledger's back.
    found = _planted(wallet_ids, lambda: _move_balance(wallet, 100))
    assert f"wallet {wallet}: cached balance" in " ".join(found["cached balance = ledger"])
    assert found["reconciliation finds no drift"]
    assert found["money conserved (per kind)"]

    # Reserved moved without a session or a hold behind it.
    def reserve():
        Wallet.objects.filter(pk=wallet).update(
            balance_minor=F("balance_minor") + 1, reserved_minor=F("reserved_minor") + 1
        )

    found = _planted(wallet_ids, reserve)
    assert found["reserved = open reservations + holds"]

    # The same (provider, transaction id) applied twice (in another id scope), its debit
    # reflected in the cached balance so that only the at-most-once check can tell.
    def duplicate():
        _copy_row(bet.pk, id_scope="planted")
        _move_balance(wallet, -bet.amount_minor)

    found = _planted(wallet_ids, duplicate)
    assert list(found) == ["each transaction id applied at most once"], found
    assert (
        f"transaction id {bet.external_id!r} applied 2 times"
        in found["each transaction id applied at most once"][0]
    )

    # A bet refunded that was never rolled back (a rollback applied without its bet's status).
    def refund():
        _copy_row(
            bet.pk,
            kind="rollback",
            external_id="planted-refund",
            delta_minor=bet.amount_minor,
            reference_id=bet.pk,
        )
        _move_balance(wallet, bet.amount_minor)

    found = _planted(wallet_ids, refund)
    assert any(
        f"bet {bet.pk} (posted) refunded 1 times" in p
        for p in found["each transaction id applied at most once"]
    )

    # A bet that credits: the per-kind sum and the sign check disagree with the balance.
    def crediting_bet():
        _copy_row(bet.pk, external_id="planted-credit", delta_minor=bet.amount_minor)
        _move_balance(wallet, bet.amount_minor)

    found = _planted(wallet_ids, crediting_bet)
    assert "cached balance = ledger" not in found
    assert found["money conserved (per kind)"]

    # In the same test (one database flush): a refused call that changed the wallet.
    _a_refused_call_that_changed_the_wallet_is_reported(played_server)


def _a_refused_call_that_changed_the_wallet_is_reported(server):
    """The worker's check of refused calls, with an effect planted between the worker's
    previous call and a refused one: reported, and the driver's books disagree too."""
    setup = soak.prepare(11, workers=1, players=1, providers=1, tag="refused")
    run = soak.SeedRun(setup, server, steps=100, seconds=0, tag="refused")
    worker = soak.PlayWorker(run, 1)
    player = worker.players[0]
    worker.snapshots[player.id] = worker._snapshot(player)
    worker.op_deposit(
        soak.Op("deposit", player=0, amount=100_00 * soak._jpy(player.currency), txn="d1")
    )
    worker.op_launch(soak.Op("launch", player=0, slot="s1", provider=0))
    assert "s1" in worker.sessions

    # Control: a refused call with nothing planted is not reported.
    worker.op_probe(
        soak.Op("probe", slot="s1", player=0, txn="p1", round="r1", flag="invalid_amount")
    )
    assert run.findings.violations == []
    assert run.findings.refused == 1

    # Planted: money moves between the worker's last call and a refused one.
    ledger.deposit(
        player=Player.objects.get(pk=player.id),
        currency=player.currency,
        amount_minor=5,
        external_id="planted-deposit",
    )
    worker.op_probe(
        soak.Op("probe", slot="s1", player=0, txn="p2", round="r2", flag="unknown_token")
    )
    assert any(
        v.startswith("refused bet (unknown token) changed the wallet") and "balance" in v
        for v in run.findings.violations
    ), run.findings.violations
    worker.close()
    found = soak.check_seed(run, [worker])
    assert found["the driver's books = balances"], found
