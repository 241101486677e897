"""Dependency faults over real HTTP, against a PostgreSQL cluster and a Redis server of the
test's own (initdb into a temporary folder, loopback ports), stopped and started under a running
web server:

- Redis stopped: bets, wins and rollbacks still succeed with exact balances (Redis only carries
  metrics and the Celery broker, never money).
- PostgreSQL stopped: every call is answered 503 SERVICE_UNAVAILABLE (retryable) with no
  balance in it, never a 500 and never a figure; once PostgreSQL is back the same web server
  (no restart) answers again, and calls refused during the outage, resent with the same ids,
  are applied exactly once.
"""

import http.client

import pytest

from tests.reliability import servers
from tests.reliability.plans import eur

FUNDS = 1_000_00


@pytest.fixture(scope="module")
def stack(rel_template, tmp_path_factory):
    """(private PostgreSQL, private Redis, the web server, seeded data, database URL)."""
    pg = servers.PrivatePostgres()
    redis = servers.PrivateRedis()
    server = None
    try:
        pg.init()
        pg.start()
        url = servers.create_database(pg.url, "pitboss")
        servers.copy_schema(rel_template[1], url)
        redis.start()
        env = servers.base_env(url, redis.url)
        seeded = servers.seed(env, players=2, funds_minor=FUNDS)
        server = servers.WebServer(env, workers=2, log_dir=tmp_path_factory.mktemp("web"))
        server.start()
        yield pg, redis, server, seeded, url
    finally:
        if server is not None:
            server.stop()
        redis.destroy()
        pg.destroy()


class Model:
    """A player's expected available balance, and the calls it has sent."""

    def __init__(self, client, token, balance):
        self.client = client
        self.token = token
        self.balance = balance
        self.n = 0

    def next_id(self, kind):
        self.n += 1
        return f"{kind}-{self.token[:6]}-{self.n}"

    def expect_ok(self, operation, delta, **fields):
        status, body = self.client.call(operation, session_token=self.token, **fields)
        self.balance += delta
        assert (status, body.get("status"), body.get("balance")) == (
            200,
            "OK",
            eur(self.balance),
        ), (
            operation,
            fields,
            body,
        )
        return body

    def bet_win_rollback(self):
        """One bet settled by a win and one bet rolled back."""
        round_id = self.next_id("r")
        bet_id = self.next_id("b")
        self.expect_ok("bet", -3_10, transaction_id=bet_id, round_id=round_id,
                       amount="3.10", currency="EUR")  # fmt: skip
        self.expect_ok("win", 5_00, transaction_id=self.next_id("w"), round_id=round_id,
                       amount="5.00", currency="EUR", round_closed=True)  # fmt: skip
        round_id = self.next_id("r")
        bet_id = self.next_id("b")
        self.expect_ok("bet", -1_25, transaction_id=bet_id, round_id=round_id,
                       amount="1.25", currency="EUR")  # fmt: skip
        self.expect_ok("rollback", 1_25, transaction_id=self.next_id("rb"),
                       reference_transaction_id=bet_id, round_id=round_id)  # fmt: skip


def test_redis_down_money_calls_still_succeed(stack):
    _, redis, server, seeded, url = stack
    client = servers.WalletHttp(server.port, "relprov", seeded["secret"])
    player = Model(client, seeded["players"][0]["token"], FUNDS)
    player.bet_win_rollback()
    redis.stop()
    try:
        for _ in range(10):
            player.bet_win_rollback()
        status, body = client.call("balance", session_token=player.token)
        assert (status, body["balance"]) == (200, eur(player.balance))
    finally:
        redis.start()
    player.bet_win_rollback()
    balances = servers.wallet_state(url)
    assert balances[seeded["players"][0]["wallet"]] == player.balance
    print(f"\nRELIABILITY redis-down: {4 * 10} money calls with Redis stopped, all applied")


def test_postgres_restart_answers_503_then_recovers_without_a_web_restart(stack):
    pg, _, server, seeded, url = stack
    client = servers.WalletHttp(server.port, "relprov", seeded["secret"])
    player = Model(client, seeded["players"][1]["token"], FUNDS)
    player.bet_win_rollback()
    master = server.proc.pid

    pg.stop("fast")
    refused = []
    try:
        for i in range(12):
            transaction_id = f"outage-bet-{i}"
            fields = dict(session_token=player.token, transaction_id=transaction_id,
                          round_id=f"outage-r{i}", amount="2.00", currency="EUR")  # fmt: skip
            for operation, payload in [
                ("bet", fields),
                ("balance", {"session_token": player.token}),
            ]:
                try:
                    status, body = client.call(operation, timeout=20, **payload)
                except (OSError, http.client.HTTPException) as error:
                    pytest.fail(f"no response during the outage: {error!r}")
                assert status == 503, (operation, status, body)
                assert body.get("code") == "SERVICE_UNAVAILABLE", body
                assert "balance" not in body, body
            refused.append(fields)
    finally:
        pg.start()

    def answers():
        status, body = client.call("balance", timeout=20, session_token=player.token)
        assert status in (200, 503), (status, body)
        return status == 200 and body

    body = servers.wait_for(answers, 30, "the wallet to answer again", interval=0.5)
    assert body["balance"] == eur(player.balance)
    assert server.proc.pid == master and server.proc.poll() is None  # never restarted
    # The provider resends what was refused, with the same ids: applied once each.
    for fields in refused:
        player.expect_ok("bet", -2_00, **{k: v for k, v in fields.items() if k != "session_token"})
    for fields in refused[:3]:
        status, body = client.call("bet", **fields)
        assert (status, body["duplicate"], body["balance"]) == (200, True, eur(player.balance))
    player.bet_win_rollback()
    balances = servers.wallet_state(url)
    assert balances[seeded["players"][1]["wallet"]] == player.balance
    print(
        f"\nRELIABILITY pg-restart: {2 * len(refused)} calls answered 503 during the outage, "
        f"{len(refused)} resent after it and applied once, lost 0"
    )
