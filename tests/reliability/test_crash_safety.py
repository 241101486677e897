"""Crash safety over real HTTP: the web server (granian) serving the wallet API is SIGKILLed (one
worker, then another, then the main process and its workers at once) while threads stream signed
bets, wins and rollbacks.

Each thread plays one player's calls in order, as a provider does: a call without a response
(connection reset, refused, 5xx) is sent again with the same transaction id until one comes
back. Every response must be exactly what the sequential reference model says (code and
balance), the final balances must be the model's, the ledger invariant must hold for every
wallet and every call must have written its row exactly once: nothing lost, nothing doubled, no
half-written transaction.
"""

import http.client
import random
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import psycopg

from tests.reliability import servers
from tests.reliability.plans import player_plan

PLAYERS = 6
ROUNDS = 45
FUNDS = 5_000_00
STREAM_DEADLINE_SECONDS = 120


@dataclass(frozen=True)
class Answer:
    resent: bool  # an earlier delivery got no answer (reset, refused, 5xx)
    last_sent_at: float  # epoch seconds when the answered delivery was sent
    duplicate: bool
    wallet_transaction_id: str | None


class Stream:
    """One player's calls, sent in order, each until it is answered."""

    def __init__(self, client, plan, deadline):
        self.client = client
        self.plan = plan
        self.deadline = deadline
        self.acked = 0
        self.resends = 0
        self.mismatches: list[str] = []
        # transaction id -> the answer that was acknowledged
        self.answers: dict[str, Answer] = {}

    def run(self):
        for step in self.plan.steps:
            resent = False
            while True:
                if time.monotonic() > self.deadline:
                    self.mismatches.append(f"gave up at {step.fields}")
                    return
                sent_at = time.time()  # the wall clock, as PostgreSQL's clock_timestamp()
                try:
                    status, body = self.client.call(step.operation, timeout=15, **step.fields)
                except (OSError, http.client.HTTPException):
                    self.resends += 1
                    resent = True
                    time.sleep(0.05)
                    continue
                if status >= 500:
                    # Retryable by contract (INTERNAL_ERROR / SERVICE_UNAVAILABLE).
                    self.resends += 1
                    resent = True
                    time.sleep(0.05)
                    continue
                break
            self.acked += 1
            self.answers[step.fields["transaction_id"]] = Answer(
                resent=resent,
                last_sent_at=sent_at,
                duplicate=bool(body.get("duplicate")),
                wallet_transaction_id=body.get("wallet_transaction_id"),
            )
            code = body.get("status") if body.get("status") == "OK" else body.get("code")
            balance = body.get("balance")
            expected = (step.code, Decimal(step.balance_after) / 100)
            got = (code, Decimal(balance) if balance is not None else None)
            if got != expected:
                self.mismatches.append(f"{step.operation} {step.fields}: {got} != {expected}")


def test_sigkilled_server_loses_nothing_and_replays_apply_once(rel_database, tmp_path):
    url, env = rel_database
    seeded = servers.seed(env, players=PLAYERS, funds_minor=FUNDS)
    rng = random.Random(9_2026)
    plans = [
        player_plan(rng, f"p{n}", player["token"], FUNDS, ROUNDS)
        for n, player in enumerate(seeded["players"])
    ]
    total_calls = sum(len(plan.steps) for plan in plans)
    server = servers.WebServer(env, workers=2, log_dir=tmp_path)
    client = servers.WalletHttp(server.port, "relprov", seeded["secret"])
    deadline = time.monotonic() + STREAM_DEADLINE_SECONDS
    streams = [Stream(client, plan, deadline) for plan in plans]
    threads = [threading.Thread(target=stream.run, daemon=True) for stream in streams]
    faults = []
    try:
        server.start()
        for thread in threads:
            thread.start()

        def acked_share():
            return sum(stream.acked for stream in streams) / total_calls

        for threshold, fault in [(0.2, "worker"), (0.4, "worker"), (0.6, "all"), (0.8, "all")]:
            servers.wait_for(lambda t=threshold: acked_share() >= t, 60, f"{threshold:.0%} acked")
            if fault == "worker":
                faults.append(f"SIGKILL worker {server.kill_worker()}")
            else:
                resends = sum(stream.resends for stream in streams)
                server.kill_all()
                faults.append("SIGKILL master and workers")
                # Calls meet the closed port meanwhile: wait until one has.
                servers.wait_for(
                    lambda r=resends: (
                        sum(stream.resends for stream in streams) > r or acked_share() == 1
                    ),
                    60,
                    "a call to meet the closed port",
                )
                server.start()
        for thread in threads:
            thread.join(timeout=max(1, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in threads), "a stream hung"
    finally:
        server.stop()

    problems = [m for stream in streams for m in stream.mismatches]
    assert not problems, "\n".join(problems[:20])
    assert sum(stream.acked for stream in streams) == total_calls

    balances = servers.wallet_state(url)  # also asserts the ledger invariant of every wallet
    for player, plan in zip(seeded["players"], plans, strict=True):
        assert balances[player["wallet"]] == plan.final_balance
    with psycopg.connect(url) as conn:
        rows = dict(
            conn.execute(
                "SELECT wallet_id, COUNT(*) FROM wallets_transaction"
                " WHERE provider_id IS NOT NULL GROUP BY wallet_id"
            ).fetchall()
        )
        ledger_rows = {
            external_id: (count, str(first_id), created_at)
            for external_id, count, first_id, created_at in conn.execute(
                "SELECT external_id, COUNT(*), MIN(id), extract(epoch FROM MIN(created_at))"
                " FROM wallets_transaction WHERE provider_id IS NOT NULL GROUP BY external_id"
            ).fetchall()
        }
    for player, plan in zip(seeded["players"], plans, strict=True):
        assert rows.get(player["wallet"], 0) == plan.rows

    # Every call that wrote a row: applied once, and every answer to it names that row. A
    # resent call whose row was written before its answered delivery was sent (applied before
    # the crash, its answer lost) must come back as a duplicate; only a resent call may.
    applied_before = []
    for stream in streams:
        for step in stream.plan.steps:
            if not step.writes_row:
                continue
            txn_id = step.fields["transaction_id"]
            answer = stream.answers[txn_id]
            count, row_id, created_at = ledger_rows[txn_id]
            assert count == 1, f"{txn_id} applied {count} times"
            assert answer.wallet_transaction_id == row_id, (txn_id, answer, row_id)
            if float(created_at) < answer.last_sent_at:
                assert answer.resent and answer.duplicate, (txn_id, answer, created_at)
                applied_before.append(txn_id)
            if answer.duplicate:
                assert answer.resent, (txn_id, answer)
    resends = sum(stream.resends for stream in streams)
    print(
        f"\nRELIABILITY crash: {total_calls} calls, faults {faults}, {resends} resends, "
        f"{len(applied_before)} resent calls found applied before the crash (each a duplicate "
        "with its original wallet transaction id), lost 0, applied twice 0"
    )
    # The faults really hit calls in flight (else this test proves nothing).
    assert resends > 0
