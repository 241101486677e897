"""Game sessions: lifecycle, buy-in reservations, the session limit, idle cleanup (set-based,
bounded, safe to run twice at once), the open-round policy, support tools and figures."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories, races
from wallets import ledger, selectors, services
from wallets.choices import RoundStatus, SessionEndReason, SessionStatus, TransactionStatus
from wallets.errors import InsufficientFunds, SessionExpired, SessionLimit, WalletError
from wallets.models import (
    AuditRecord,
    GameSession,
    Player,
    Round,
    SessionCleanupRun,
    Transaction,
    Wallet,
)


def _age(session, seconds):
    GameSession.objects.filter(pk=session.pk).update(
        last_activity_at=timezone.now() - timedelta(seconds=seconds)
    )


def _wallet(player, currency="EUR"):
    return Wallet.objects.get(player=player, currency=currency)


def assert_reservations_consistent():
    """Every wallet's reserved == its open sessions' reservations + its held amounts."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT w.id, w.reserved_minor,
                   COALESCE((SELECT SUM(s.reserved_minor) FROM wallets_gamesession s
                             WHERE s.wallet_id = w.id AND s.status = 'open'), 0)
                 + COALESCE((SELECT SUM(t.amount_minor) FROM wallets_transaction t
                             WHERE t.wallet_id = w.id AND t.status = 'held'), 0)
            FROM wallets_wallet w
            """
        )
        wrong = [row for row in cursor.fetchall() if row[1] != row[2]]
    assert wrong == []


@pytest.mark.django_db
class TestLifecycle:
    def test_provider_close_is_graceful_and_releases_buy_in(self, provider, wallet_api):
        player = factories.funded_player(100_00)
        session, token = factories.open_session(player, provider, buy_in_minor=30_00)
        assert (_wallet(player).reserved_minor, _wallet(player).available_minor) == (30_00, 70_00)
        response = wallet_api.call("session/close", session_token=token)
        assert response.json()["balance"] == "100.00"
        session.refresh_from_db()
        assert session.status == SessionStatus.CLOSED
        assert session.end_reason == SessionEndReason.GRACEFUL
        assert session.ended_at is not None and session.ended_by is None
        assert _wallet(player).reserved_minor == 0
        # A second close is a no-op, not an error.
        assert wallet_api.call("session/close", session_token=token).status_code == 200

    def test_every_wallet_call_updates_last_activity(self, provider, wallet_api):
        player = factories.funded_player(10_00)
        session, token = factories.open_session(player, provider)
        for call in [
            ("authenticate", {}),
            ("balance", {}),
            ("bet", {"transaction_id": "b", "round_id": "r", "amount": "1", "currency": "EUR"}),
            # (a win in the bet's round would settle it: BET_SETTLED for the rollback below)
            ("win", {"transaction_id": "w", "round_id": "r2", "amount": "1", "currency": "EUR"}),
            ("rollback", {"transaction_id": "x", "reference_transaction_id": "b", "round_id": "r"}),
            ("round/close", {"round_id": "r"}),
        ]:
            _age(session, 600)
            before = timezone.now()
            assert wallet_api.call(call[0], session_token=token, **call[1]).status_code == 200
            session.refresh_from_db()
            assert session.last_activity_at >= before, call[0]

    def test_idle_authenticated_session_is_abandoned_and_unauthenticated_one_expires(
        self, provider, wallet_api
    ):
        played, token = factories.open_session(factories.funded_player(), provider)
        wallet_api.call("authenticate", session_token=token)
        never_used, _ = factories.open_session(factories.funded_player(), provider)
        fresh, _ = factories.open_session(factories.funded_player(), provider)
        for session in (played, never_used):
            _age(session, provider.idle_timeout_seconds + 5)
        run = services.run_session_cleanup()
        statuses = {
            s.pk: (s.status, s.end_reason)
            for s in GameSession.objects.filter(pk__in=[played.pk, never_used.pk, fresh.pk])
        }
        assert statuses[played.pk] == (SessionStatus.ABANDONED, SessionEndReason.IDLE_TIMEOUT)
        assert statuses[never_used.pk] == (SessionStatus.EXPIRED, SessionEndReason.IDLE_TIMEOUT)
        assert statuses[fresh.pk] == (SessionStatus.OPEN, "")
        stat = run.stats.get()
        assert (stat.sessions_abandoned, stat.sessions_expired) == (1, 1)
        assert run.sessions_ended == 2

    def test_wins_and_rollbacks_are_accepted_after_expiry_but_bets_are_not(
        self, provider, wallet_api
    ):
        player = factories.funded_player(50_00)
        session, token = factories.open_session(player, provider)
        wallet_api.call("authenticate", session_token=token)
        bet = dict(round_id="r1", amount="10", currency="EUR", session_token=token)
        wallet_api.call("bet", transaction_id="b1", **bet)
        wallet_api.call("bet", transaction_id="b2", **{**bet, "round_id": "r2"})
        _age(session, provider.idle_timeout_seconds + 5)
        services.run_session_cleanup()
        refused = wallet_api.call("bet", transaction_id="b3", **bet)
        assert refused.json()["code"] == "SESSION_EXPIRED"
        win = wallet_api.call("win", transaction_id="w1", **{**bet, "amount": "25"})
        assert win.status_code == 200 and win.json()["balance"] == "55.00"
        rollback = wallet_api.call(
            "rollback",
            session_token=token,
            transaction_id="rb2",
            reference_transaction_id="b2",
            round_id="r2",
        )
        assert rollback.status_code == 200 and rollback.json()["balance"] == "65.00"

    def test_staff_close_kills_session_with_reason_and_audit(self, provider):
        player = factories.funded_player(40_00)
        session, _ = factories.open_session(player, provider, buy_in_minor=15_00)
        agent = factories.UserFactory(groups=["support"])
        ended = services.close_session_by_staff(session=session, reason="tab closed", actor=agent)
        assert (ended.status, ended.end_reason, ended.ended_by) == (
            SessionStatus.KILLED,
            SessionEndReason.STAFF,
            agent,
        )
        assert _wallet(player).reserved_minor == 0
        audit = AuditRecord.objects.get(action="session.close")
        assert audit.actor == agent and audit.reason == "tab closed"
        assert audit.before["reserved_minor"] == 15_00
        with pytest.raises(WalletError):
            services.close_session_by_staff(session=session, reason="again", actor=agent)


@pytest.mark.django_db
class TestActivityStep:
    """Money calls refresh a session's last activity once it has aged by 1 % of the provider's
    idle timeout (at most 10 s), not on every call (migration wallets/0010)."""

    def _activity(self, session):
        return GameSession.objects.values_list("last_activity_at", flat=True).get(pk=session.pk)

    def test_a_stale_activity_is_refreshed_by_bets_wins_and_rollbacks(self, provider, wallet_api):
        player = factories.funded_player(100_00)
        session, token = factories.open_session(player, provider)
        wallet_api.call("authenticate", session_token=token)
        common = dict(session_token=token, currency="EUR")
        calls = [
            ("bet", dict(transaction_id="b1", round_id="r1", amount="1", **common)),
            ("win", dict(transaction_id="w1", round_id="r1", amount="2", **common)),
            ("bet", dict(transaction_id="b2", round_id="r2", amount="1", **common)),
            (
                "rollback",
                dict(
                    transaction_id="rb2",
                    reference_transaction_id="b2",
                    round_id="r2",
                    session_token=token,
                ),
            ),
        ]
        for operation, fields in calls:
            _age(session, 11)  # older than the 10 s step of the default 30 min timeout
            before = timezone.now()
            wallet_api.call(operation, **fields)
            assert self._activity(session) >= before, operation

    def test_a_fresh_activity_is_not_rewritten(self, provider, wallet_api):
        player = factories.funded_player(100_00)
        session, token = factories.open_session(player, provider)
        wallet_api.call("authenticate", session_token=token)
        _age(session, 0)  # fresh: the whole 10 s step lies ahead
        aged = self._activity(session)
        wallet_api.call(
            "bet",
            session_token=token,
            transaction_id="b1",
            round_id="r1",
            amount="1",
            currency="EUR",
        )
        assert self._activity(session) == aged

    def test_the_step_is_one_percent_of_a_short_idle_timeout(self, provider, wallet_api):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pitboss_activity_step(600), pitboss_activity_step(1800),"
                " pitboss_activity_step(86400)"
            )
            steps = cursor.fetchone()
        assert steps == (timedelta(seconds=6), timedelta(seconds=10), timedelta(seconds=10))
        provider.idle_timeout_seconds = 600  # step: 6 s
        provider.save()
        player = factories.funded_player(100_00)
        session, token = factories.open_session(player, provider)
        wallet_api.call("authenticate", session_token=token)
        common = dict(session_token=token, amount="1", currency="EUR")
        _age(session, 0)
        aged = self._activity(session)
        wallet_api.call("bet", transaction_id="b1", round_id="r1", **common)
        assert self._activity(session) == aged
        _age(session, 7)  # past the 6 s step, within the default 10 s one
        before = timezone.now()
        wallet_api.call("bet", transaction_id="b2", round_id="r2", **common)
        assert self._activity(session) >= before

    def test_a_bet_drawing_on_the_buy_in_writes_the_session_at_once(self, provider, wallet_api):
        player = factories.funded_player(100_00)
        session, token = factories.open_session(player, provider, buy_in_minor=20_00)
        wallet_api.call("authenticate", session_token=token)
        _age(session, 1)
        before = timezone.now()
        wallet_api.call(
            "bet",
            session_token=token,
            transaction_id="b1",
            round_id="r1",
            amount="5",
            currency="EUR",
        )
        session.refresh_from_db()
        assert session.reserved_minor == 15_00
        assert session.last_activity_at >= before


@pytest.mark.django_db
class TestBuyIn:
    def test_buy_in_needs_available_funds(self, provider):
        player = factories.funded_player(10_00)
        with pytest.raises(InsufficientFunds):
            factories.open_session(player, provider, buy_in_minor=10_01)
        assert GameSession.objects.count() == 0
        assert _wallet(player).reserved_minor == 0

    def test_bets_draw_on_the_reservation_first(self, provider, wallet_api):
        player = factories.funded_player(100_00)
        session, token = factories.open_session(player, provider, buy_in_minor=20_00)
        wallet_api.call("authenticate", session_token=token)
        common = dict(session_token=token, round_id="r", currency="EUR")
        wallet_api.call("bet", transaction_id="b1", amount="15", **common)
        session.refresh_from_db()
        wallet = _wallet(player)
        assert (session.reserved_minor, wallet.reserved_minor, wallet.balance_minor) == (
            5_00,
            5_00,
            85_00,
        )
        wallet_api.call("bet", transaction_id="b2", amount="10", **common)
        session.refresh_from_db()
        wallet = _wallet(player)
        assert (session.reserved_minor, wallet.reserved_minor, wallet.balance_minor) == (
            0,
            0,
            75_00,
        )
        assert list(
            Transaction.objects.filter(kind="bet")
            .order_by("id")
            .values_list("reserved_used_minor", flat=True)
        ) == [15_00, 5_00]
        # Rolling back returns the reserved part to the still-open session.
        wallet_api.call(
            "rollback",
            transaction_id="rb1",
            reference_transaction_id="b1",
            session_token=token,
            round_id="r",
        )
        session.refresh_from_db()
        assert session.reserved_minor == 15_00
        assert_reservations_consistent()

    def test_session_limit(self, provider):
        provider.max_sessions_per_player = 2
        provider.save()
        player = factories.funded_player()
        factories.open_session(player, provider)
        factories.open_session(player, provider)
        with pytest.raises(SessionLimit):
            factories.open_session(player, provider)


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def _threads(self, targets):
        """Run each target in its own thread (own connection), all released at once."""
        errors = []
        start = threading.Barrier(len(targets))

        def wrap(target):
            try:
                start.wait(timeout=races.BLOCK_TIMEOUT_SECONDS)
                target()
            except Exception as error:  # collected and asserted below
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "a thread hung"
        return errors

    def _idle_buy_in_sessions(self, provider, count):
        players, sessions = [], []
        for _ in range(count):
            player = factories.funded_player(100_00)
            session, _ = factories.open_session(player, provider, buy_in_minor=50_00)
            ledger.authenticate(provider=provider, session=session)
            _age(session, 120)
            players.append(player)
            sessions.append(session)
        return players, sessions

    def _bet(self, provider, session, transaction_id):
        return ledger.bet(
            provider=provider,
            session=GameSession.objects.get(pk=session.pk),
            transaction_id=transaction_id,
            round_id=f"r-{transaction_id}",
            amount_minor=3_00,
            currency="EUR",
        )

    def test_a_bet_in_flight_keeps_its_session_from_the_cleanup(self):
        """The bet holds its wallet row (its transaction left open) while a whole cleanup run
        goes by: the cleanup skips that session without waiting for it and ends the others;
        the bet then commits and its session, active again, stays open."""
        provider, _ = factories.make_provider("race", idle_timeout_seconds=60)
        players, sessions = self._idle_buy_in_sessions(provider, 3)
        raced = races.run_beside_open_transaction(
            lambda: self._bet(provider, sessions[0], "in-flight"),
            lambda: services.run_session_cleanup(batch_size=2),
        )

        assert raced.second_error is None, raced.second_error
        assert raced.second.sessions_ended == 2
        statuses = [GameSession.objects.get(pk=s.pk).status for s in sessions]
        assert statuses == [SessionStatus.OPEN, SessionStatus.ABANDONED, SessionStatus.ABANDONED]
        # The ended sessions take no more bets; the one in flight plays on.
        with pytest.raises(SessionExpired):
            self._bet(provider, sessions[1], "too-late")
        self._bet(provider, sessions[0], "plays-on")
        assert [_wallet(p).reserved_minor for p in players] == [44_00, 0, 0]
        assert [_wallet(p).balance_minor for p in players] == [94_00, 100_00, 100_00]
        assert services.run_session_cleanup().sessions_ended == 0  # active again: not idle
        assert_reservations_consistent()

    def test_bets_racing_the_cleanup_never_double_release(self):
        """Bettors and cleanups released together. Which side wins each session is up to the
        scheduler; what must hold is checked for every outcome."""
        provider, _ = factories.make_provider("race", idle_timeout_seconds=60)
        players, sessions = self._idle_buy_in_sessions(provider, 6)
        outcomes = []

        def bettor(session, n):
            def run():
                for i in range(10):
                    try:
                        self._bet(provider, session, f"{session.pk}-{n}-{i}")
                        outcomes.append("ok")
                    except SessionExpired:
                        outcomes.append("expired")

            return run

        cleanups = [lambda: services.run_session_cleanup(batch_size=2) for _ in range(3)]
        errors = self._threads([bettor(s, n) for n, s in enumerate(sessions)] + cleanups)
        assert errors == []
        assert len(outcomes) == 60
        # A session either won the race (a bet made it active again) or was ended once.
        assert_reservations_consistent()
        for session in GameSession.objects.filter(status="abandoned"):
            later_bets = Transaction.objects.filter(
                session=session, created_at__gt=session.ended_at
            )
            assert not later_bets.exists()
        # Age everything again: the next run ends the rest, and no money was created or lost.
        GameSession.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))
        services.run_session_cleanup()
        assert GameSession.objects.filter(status="open").count() == 0
        assert_reservations_consistent()
        for player in players:
            wallet = _wallet(player)
            bets = Transaction.objects.filter(wallet=wallet, kind="bet").count()
            assert wallet.reserved_minor == 0
            assert wallet.balance_minor == 100_00 - bets * 3_00

    def test_a_launch_and_a_bet_of_one_player_never_wait_for_each_other(self):
        """A launch locks the player and, inserting its session, takes a key-share lock on the
        wallet; a bet locks the wallet and, inserting its row, takes a key-share lock on the
        player. With FOR UPDATE row locks each waited for the other, and the two orders
        together deadlocked; FOR NO KEY UPDATE leaves key-share locks free. Forced both ways:
        each runs to its end while the other's transaction is held open."""
        provider, _ = factories.make_provider("nodeadlock", max_sessions_per_player=10)
        player = factories.funded_player(100_00)
        session, _ = factories.open_session(player, provider)

        def launch():
            return factories.open_session(Player.objects.get(pk=player.pk), provider)[0]

        bet_beside_launch = races.run_beside_open_transaction(
            launch, lambda: self._bet(provider, session, "beside-launch")
        )
        launch_beside_bet = races.run_beside_open_transaction(
            lambda: self._bet(provider, session, "beside-bet"), launch
        )

        assert bet_beside_launch.second_error is None, bet_beside_launch.second_error
        assert launch_beside_bet.second_error is None, launch_beside_bet.second_error
        assert GameSession.objects.filter(player=player, status="open").count() == 3
        assert _wallet(player).balance_minor == 100_00 - 2 * 3_00

    def test_launches_and_bets_of_one_player_do_not_deadlock(self):
        """The same under load: launchers and bettors released together, many times over."""
        provider, _ = factories.make_provider("nodeadlock", max_sessions_per_player=1000)
        player = factories.funded_player(10_000_00)
        session, _ = factories.open_session(player, provider)

        def launcher():
            for _ in range(25):
                factories.open_session(player, provider)

        def bettor(n):
            def run():
                live = GameSession.objects.get(pk=session.pk)
                for i in range(25):
                    ledger.bet(
                        provider=provider,
                        session=live,
                        transaction_id=f"{n}-{i}",
                        round_id=f"{n}-{i}",
                        amount_minor=1_00,
                        currency="EUR",
                    )
                    ledger.win(
                        provider=provider,
                        session=live,
                        transaction_id=f"w{n}-{i}",
                        round_id=f"{n}-{i}",
                        amount_minor=50,
                        currency="EUR",
                    )

            return run

        errors = self._threads([launcher, launcher, bettor(1), bettor(2)])
        assert errors == []
        assert GameSession.objects.filter(player=player).count() == 51
        assert _wallet(player).balance_minor == 10_000_00 - 50 * 50

    def test_a_cleanup_skips_what_another_cleanup_holds(self):
        """One cleanup's batch is held open (its sessions ended, not committed) while a second
        cleanup runs to its end: the second ends every other idle session without waiting and
        never the first one's; each reservation is released once."""
        provider, _ = factories.make_provider("twice", idle_timeout_seconds=60)
        # A batch locks the wallets of the sessions it ends: one player per session here.
        players = [factories.funded_player(10_00) for _ in range(60)]
        for player in players:
            factories.open_session(player, provider, buy_in_minor=1_00)
        GameSession.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))
        raced = races.run_beside_open_transaction(
            lambda: ledger.end_idle_sessions(batch_size=25),
            lambda: services.run_session_cleanup(batch_size=10),
        )

        assert raced.second_error is None, raced.second_error
        first_ended = sum(e.expired + e.abandoned for e in raced.first)
        assert (first_ended, raced.second.sessions_ended) == (25, 35)
        assert sum(e.released_minor for e in raced.first) == 25_00
        assert raced.second.stats.get().reservations_released == 35
        assert GameSession.objects.filter(status="open").count() == 0
        assert [(_wallet(p).balance_minor, _wallet(p).reserved_minor) for p in players] == [
            (10_00, 0)
        ] * 60
        assert_reservations_consistent()

    def test_two_cleanups_at_once_end_each_session_once(self):
        provider, _ = factories.make_provider("twice", idle_timeout_seconds=60)
        player = factories.funded_player(1_000_00)
        provider.max_sessions_per_player = 500
        provider.save()
        for _ in range(300):
            factories.open_session(player, provider, buy_in_minor=1_00)
        GameSession.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))
        assert _wallet(player).reserved_minor == 300_00
        runs = []
        errors = self._threads(
            [lambda: runs.append(services.run_session_cleanup(batch_size=25)) for _ in range(2)]
        )
        assert errors == []
        summary = [(run.sessions_ended, run.incomplete, run.duration_ms) for run in runs]
        assert sum(run.sessions_ended for run in runs) == 300, summary
        assert _wallet(player).reserved_minor == 0
        assert _wallet(player).balance_minor == 1_000_00
        released = sum(stat.reservations_released for run in runs for stat in run.stats.all())
        assert released == 300


@pytest.mark.django_db
class TestOpenRoundPolicy:
    def _abandon_with_open_round(self, provider, wallet_api, *, win=False):
        player = factories.funded_player(50_00)
        session, token = factories.open_session(player, provider)
        wallet_api.call("authenticate", session_token=token)
        wallet_api.call(
            "bet",
            session_token=token,
            transaction_id="b1",
            round_id="r1",
            amount="20",
            currency="EUR",
        )
        if win:
            wallet_api.call(
                "win",
                session_token=token,
                transaction_id="w1",
                round_id="r1",
                amount="5",
                currency="EUR",
            )
        _age(session, provider.idle_timeout_seconds + 5)
        Round.objects.update(
            opened_at=timezone.now() - timedelta(seconds=provider.round_timeout_seconds + 5)
        )
        return player

    def test_refund_policy_rolls_back_the_stake_through_the_ledger(self, provider, wallet_api):
        player = self._abandon_with_open_round(provider, wallet_api)
        run = services.run_session_cleanup()
        assert run.rounds_refunded == 1
        assert _wallet(player).balance_minor == 50_00
        bet = Transaction.objects.get(kind="bet")
        assert bet.status == TransactionStatus.ROLLED_BACK
        assert Round.objects.get().status == RoundStatus.CANCELLED
        # Running again refunds nothing twice.
        assert services.run_session_cleanup().rounds_refunded == 0
        assert Transaction.objects.filter(kind="rollback").count() == 1

    def test_flag_policy_leaves_money_and_flags_the_round(self, provider, wallet_api):
        provider.open_round_policy = "flag"
        provider.save()
        player = self._abandon_with_open_round(provider, wallet_api)
        run = services.run_session_cleanup()
        assert (run.rounds_refunded, run.rounds_flagged) == (0, 1)
        assert _wallet(player).balance_minor == 30_00
        assert Round.objects.get().flagged_at is not None
        assert services.run_session_cleanup().rounds_flagged == 0

    def test_round_that_paid_a_win_is_flagged_not_refunded(self, provider, wallet_api):
        player = self._abandon_with_open_round(provider, wallet_api, win=True)
        run = services.run_session_cleanup()
        assert (run.rounds_refunded, run.rounds_flagged) == (0, 1)
        assert _wallet(player).balance_minor == 35_00

    def test_rounds_younger_than_the_round_timeout_are_left_alone(self, provider, wallet_api):
        player = self._abandon_with_open_round(provider, wallet_api)
        Round.objects.update(opened_at=timezone.now())
        run = services.run_session_cleanup()
        assert (run.sessions_ended, run.rounds_refunded, run.rounds_flagged) == (1, 0, 0)
        assert _wallet(player).balance_minor == 30_00


@pytest.mark.django_db
@pytest.mark.slow
def test_cleanup_of_many_thousands_of_sessions_touches_each_once():
    """20,000 idle sessions over 2,000 players, half with buy-ins, made with set-based SQL."""
    provider, _ = factories.make_provider("bulk", idle_timeout_seconds=60)
    sessions_count, players_count = 20_000, 2_000
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO wallets_player (external_id, currency, country, status, status_reason,
                                        created_at)
            SELECT 'bulk-' || g, 'EUR', 'MT', 'active', '', now()
            FROM generate_series(1, %(players)s) g;
            INSERT INTO wallets_wallet (player_id, currency, balance_minor, reserved_minor,
                                        created_at, updated_at)
            SELECT id, 'EUR', 1000000, 0, now(), now() FROM wallets_player
            WHERE external_id LIKE 'bulk-%%';
            INSERT INTO wallets_gamesession (token_hash, player_id, provider_id, wallet_id,
                currency, game_id, status, created_at, last_activity_at, end_reason, end_note,
                buy_in_minor, reserved_minor)
            SELECT md5('bulk-token-' || g), w.player_id, %(provider)s, w.id, 'EUR', 'slot',
                   'open', now() - interval '2 hours', now() - interval '1 hour', '', '',
                   CASE WHEN g %% 2 = 0 THEN 100 ELSE 0 END,
                   CASE WHEN g %% 2 = 0 THEN 100 ELSE 0 END
            FROM generate_series(1, %(sessions)s) g
            JOIN (SELECT id, player_id, row_number() OVER (ORDER BY id) - 1 AS rn
                  FROM wallets_wallet) w ON w.rn = g %% %(players)s;
            UPDATE wallets_wallet w SET reserved_minor = s.total
            FROM (SELECT wallet_id, SUM(reserved_minor) total FROM wallets_gamesession
                  GROUP BY wallet_id) s WHERE s.wallet_id = w.id;
            """,
            {"players": players_count, "sessions": sessions_count, "provider": provider.pk},
        )
        # Statistics as autovacuum keeps them for tables this size: left with those of an empty
        # table (an earlier test's), the planner takes 20,000 sessions for one and joins them
        # to the batch row by row (minutes instead of seconds).
        cursor.execute("ANALYZE wallets_gamesession, wallets_wallet, wallets_player")
    assert GameSession.objects.filter(status="open").count() == sessions_count
    run = services.run_session_cleanup(batch_size=5000, time_budget_seconds=600)
    assert run.sessions_ended == sessions_count
    assert not run.incomplete
    stat = run.stats.get()
    assert stat.reservations_released == sessions_count // 2
    assert stat.released_minor == {"EUR": sessions_count // 2 * 100}
    assert GameSession.objects.filter(status="open").count() == 0
    assert Wallet.objects.filter(reserved_minor__gt=0).count() == 0
    assert services.run_session_cleanup().sessions_ended == 0
    assert_reservations_consistent()


@pytest.mark.django_db
class TestSupportToolsAndFigures:
    def _api(self, *groups):
        client = APIClient()
        user = factories.UserFactory(groups=list(groups))
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    def test_close_endpoint_releases_and_audits(self, provider):
        player = factories.funded_player(20_00)
        session, _ = factories.open_session(player, provider, buy_in_minor=5_00)
        response = self._api("support").post(
            f"/api/v1/sessions/{session.pk}/close", {"reason": "orphaned"}, format="json"
        )
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "killed"
        assert _wallet(player).reserved_minor == 0
        again = self._api("support").post(
            f"/api/v1/sessions/{session.pk}/close", {"reason": "orphaned"}, format="json"
        )
        assert again.status_code == 409

    def test_close_needs_a_reason_and_the_support_role(self, provider):
        session, _ = factories.open_session(factories.funded_player(), provider)
        assert (
            self._api("support")
            .post(f"/api/v1/sessions/{session.pk}/close", {}, format="json")
            .status_code
            == 400
        )
        assert (
            self._api("back_office")
            .post(f"/api/v1/sessions/{session.pk}/close", {"reason": "x"}, format="json")
            .status_code
            == 403
        )
        session.refresh_from_db()
        assert session.status == SessionStatus.OPEN

    def test_idle_and_reservation_filters(self, provider):
        idle, _ = factories.open_session(factories.funded_player(), provider, buy_in_minor=1_00)
        busy, _ = factories.open_session(factories.funded_player(), provider)
        _age(idle, 45 * 60)
        api = self._api("support")
        ids = lambda q: [s["id"] for s in api.get(f"/api/v1/sessions/?{q}").json()["results"]]  # noqa: E731
        assert ids("idle_minutes=30") == [idle.pk]
        assert ids("has_reservation=true") == [idle.pk]
        assert ids("has_reservation=false") == [busy.pk]
        assert sorted(ids("status=open")) == sorted([idle.pk, busy.pk])

    def test_figures(self, provider, wallet_api):
        a = factories.funded_player()
        for _ in range(3):
            factories.open_session(a, provider)
        orphan, _ = factories.open_session(factories.funded_player(), provider, buy_in_minor=2_00)
        _age(orphan, provider.idle_timeout_seconds + 10)
        _, token = factories.open_session(factories.funded_player(), provider)
        wallet_api.call("session/close", session_token=token)
        figures = {f.provider: f for f in selectors.session_figures()}[provider.code]
        assert figures.open_sessions == 4
        assert figures.max_open_sessions_per_player == 3
        assert figures.orphaned_open_sessions == 1
        assert figures.orphaned_reserved_minor == 2_00
        services.run_session_cleanup()
        figures = {f.provider: f for f in selectors.session_figures()}[provider.code]
        assert (figures.closed_gracefully, figures.abandoned, figures.abandoned_last_hour) == (
            1,
            0,
            0,
        )  # the orphan was never authenticated: it expired, not abandoned
        body = self._api("support").get("/api/v1/sessions/figures").json()
        assert body["providers"][0]["open_sessions"] == 3
        assert body["top_players"][0]["open_sessions"] == 3

    def test_management_command_reports_counts(self, provider, capsys):
        session, _ = factories.open_session(factories.funded_player(), provider, buy_in_minor=1_00)
        _age(session, provider.idle_timeout_seconds + 1)
        call_command("cleanup_sessions")
        out = capsys.readouterr().out
        assert "ended 1 sessions" in out
        assert f"{provider.code}: expired 1" in out
        assert SessionCleanupRun.objects.get().triggered_by == "command"
