"""The bet and the win as database functions: one round trip per money call.

wallets.ledger calls them (and nothing else does). Each runs inside the caller's transaction
(a single statement in autocommit is its own): it locks the wallet row FOR NO KEY UPDATE,
measures the wait, re-reads the session, provider and player under that lock, checks
idempotency and every rule of the contract in the order wallets/ledger.py documents, and either
writes (round, ledger row, wallet, session) or returns why not, writing nothing. Screening is
decided by the caller beforehand and passed in (p_decline / p_hold); it applies only to a new
call that passed every other check. A unique-index race on the ledger row raises as before
(the caller replays); a race on the round is settled here with ON CONFLICT.

Outcome codes: OK, DUPLICATE, DUPLICATE_MISMATCH (detail: the differing fields),
ROLLED_BACK, SESSION_EXPIRED, PROVIDER_SUSPENDED, PLAYER_BLOCKED, CURRENCY_MISMATCH,
ROUND_CLOSED, INSUFFICIENT_FUNDS, DECLINED. The wallet's balance and reservation come back
with every outcome, so an error answer needs no second query.
"""

from django.db import migrations

BET = """
CREATE OR REPLACE FUNCTION pitboss_bet(
    p_provider_id bigint, p_session_id bigint, p_wallet_id bigint, p_external_id text,
    p_round_id text, p_amount bigint, p_currency text, p_game_id text, p_residue numeric,
    p_decline boolean, p_client_ip inet, p_request_id text, p_processing_us integer,
    OUT outcome text, OUT detail text, OUT txn_id bigint, OUT txn_status text,
    OUT txn_created_at timestamptz, OUT balance bigint, OUT reserved bigint,
    OUT wallet_currency text, OUT wait_us integer, OUT txn_player_id bigint,
    OUT txn_round_id bigint, OUT txn_reserved_used bigint
) LANGUAGE plpgsql AS $$
DECLARE
    w wallets_wallet%ROWTYPE;
    s wallets_gamesession%ROWTYPE;
    t wallets_transaction%ROWTYPE;
    r_id bigint;
    r_status text;
    r_has_bet boolean;
    from_reservation bigint;
    started timestamptz := clock_timestamp();
    differing text[] := '{}';
BEGIN
    SELECT * INTO w FROM wallets_wallet WHERE id = p_wallet_id FOR NO KEY UPDATE;
    wait_us := (extract(epoch FROM clock_timestamp() - started) * 1000000)::integer;
    balance := w.balance_minor;
    reserved := w.reserved_minor;
    wallet_currency := w.currency;
    SELECT * INTO s FROM wallets_gamesession WHERE id = p_session_id;
    txn_player_id := s.player_id;

    SELECT * INTO t FROM wallets_transaction
    WHERE provider_id = p_provider_id AND external_id = p_external_id;
    IF FOUND THEN
        IF t.amount_minor <> p_amount THEN differing := differing || 'amount_minor'::text; END IF;
        IF t.currency <> p_currency THEN differing := differing || 'currency'::text; END IF;
        IF t.kind <> 'bet' THEN differing := differing || 'kind'::text; END IF;
        IF t.player_id <> s.player_id THEN differing := differing || 'player_id'::text; END IF;
        IF t.round_external_id <> p_round_id THEN
            differing := differing || 'round_external_id'::text;
        END IF;
        IF cardinality(differing) > 0 THEN
            outcome := 'DUPLICATE_MISMATCH';
            detail := array_to_string(differing, ', ');
            RETURN;
        END IF;
        txn_id := t.id; txn_status := t.status; txn_created_at := t.created_at;
        txn_round_id := t.round_id; txn_reserved_used := t.reserved_used_minor;
        outcome := CASE WHEN t.status = 'rolled_back' THEN 'ROLLED_BACK' ELSE 'DUPLICATE' END;
        RETURN;
    END IF;
    -- A rollback that arrived first left a tombstone: the late bet must not stand.
    PERFORM 1 FROM wallets_transaction
    WHERE provider_id = p_provider_id AND kind = 'rollback'
      AND reference_external_id = p_external_id;
    IF FOUND THEN outcome := 'ROLLED_BACK'; RETURN; END IF;

    IF s.status <> 'open' THEN outcome := 'SESSION_EXPIRED'; RETURN; END IF;
    PERFORM 1 FROM wallets_provider WHERE id = p_provider_id AND status = 'suspended';
    IF FOUND THEN outcome := 'PROVIDER_SUSPENDED'; RETURN; END IF;
    PERFORM 1 FROM wallets_player WHERE id = s.player_id AND status <> 'active';
    IF FOUND THEN outcome := 'PLAYER_BLOCKED'; RETURN; END IF;
    IF p_currency <> s.currency THEN outcome := 'CURRENCY_MISMATCH'; RETURN; END IF;
    SELECT id, status, has_bet INTO r_id, r_status, r_has_bet FROM wallets_round
    WHERE provider_id = p_provider_id AND wallets_round.player_id = s.player_id
      AND external_id = p_round_id;
    IF r_id IS NOT NULL AND r_status <> 'open' THEN outcome := 'ROUND_CLOSED'; RETURN; END IF;
    from_reservation := LEAST(s.reserved_minor, p_amount);
    IF w.balance_minor - w.reserved_minor < p_amount - from_reservation THEN
        outcome := 'INSUFFICIENT_FUNDS';
        RETURN;
    END IF;
    IF p_decline THEN outcome := 'DECLINED'; RETURN; END IF;
    txn_created_at := clock_timestamp();

    IF r_id IS NULL THEN
        INSERT INTO wallets_round
            (provider_id, player_id, session_id, external_id, status, has_bet, opened_at)
        VALUES (p_provider_id, s.player_id, s.id, p_round_id, 'open', true, txn_created_at)
        ON CONFLICT ON CONSTRAINT round_unique_per_player DO NOTHING
        RETURNING id INTO r_id;
        IF r_id IS NULL THEN
            -- Opened a moment ago by a call on another wallet of the player; it is open.
            SELECT id, status INTO r_id, r_status FROM wallets_round
            WHERE provider_id = p_provider_id AND wallets_round.player_id = s.player_id
              AND external_id = p_round_id;
            IF r_status <> 'open' THEN outcome := 'ROUND_CLOSED'; RETURN; END IF;
            UPDATE wallets_round SET has_bet = true WHERE id = r_id AND NOT has_bet;
        END IF;
    ELSIF NOT r_has_bet THEN
        UPDATE wallets_round SET has_bet = true WHERE id = r_id;
    END IF;

    balance := w.balance_minor - p_amount;
    reserved := w.reserved_minor - from_reservation;
    INSERT INTO wallets_transaction
        (kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
         balance_after_minor, rounding_residue, external_id, round_external_id,
         reference_external_id, game_id, client_ip, request_id, processing_us, lock_wait_us,
         note, created_at, player_id, provider_id, round_id, session_id, wallet_id)
    VALUES
        ('bet', 'posted', p_currency, p_amount, -p_amount, from_reservation,
         balance, p_residue, p_external_id, p_round_id,
         '', COALESCE(NULLIF(p_game_id, ''), s.game_id), p_client_ip, p_request_id,
         p_processing_us, wait_us, '', txn_created_at, s.player_id, p_provider_id, r_id,
         s.id, w.id)
    RETURNING id INTO txn_id;
    txn_status := 'posted';
    txn_round_id := r_id;
    txn_reserved_used := from_reservation;
    UPDATE wallets_wallet SET balance_minor = balance, reserved_minor = reserved,
        updated_at = txn_created_at
    WHERE id = w.id;
    UPDATE wallets_gamesession SET last_activity_at = txn_created_at,
        reserved_minor = s.reserved_minor - from_reservation
    WHERE id = s.id;
    outcome := 'OK';
END
$$;
"""

WIN = """
CREATE OR REPLACE FUNCTION pitboss_win(
    p_provider_id bigint, p_session_id bigint, p_wallet_id bigint, p_external_id text,
    p_round_id text, p_amount bigint, p_currency text, p_round_closed boolean,
    p_reference text, p_residue numeric, p_hold boolean, p_client_ip inet, p_request_id text,
    p_processing_us integer,
    OUT outcome text, OUT detail text, OUT txn_id bigint, OUT txn_status text,
    OUT txn_created_at timestamptz, OUT balance bigint, OUT reserved bigint,
    OUT wallet_currency text, OUT wait_us integer, OUT txn_player_id bigint,
    OUT txn_round_id bigint, OUT txn_reserved_used bigint
) LANGUAGE plpgsql AS $$
DECLARE
    w wallets_wallet%ROWTYPE;
    s wallets_gamesession%ROWTYPE;
    t wallets_transaction%ROWTYPE;
    r_id bigint;
    r_status text;
    r_has_bet boolean;
    started timestamptz := clock_timestamp();
    differing text[] := '{}';
BEGIN
    SELECT * INTO w FROM wallets_wallet WHERE id = p_wallet_id FOR NO KEY UPDATE;
    wait_us := (extract(epoch FROM clock_timestamp() - started) * 1000000)::integer;
    balance := w.balance_minor;
    reserved := w.reserved_minor;
    wallet_currency := w.currency;
    SELECT * INTO s FROM wallets_gamesession WHERE id = p_session_id;
    txn_player_id := s.player_id;

    SELECT * INTO t FROM wallets_transaction
    WHERE provider_id = p_provider_id AND external_id = p_external_id;
    IF FOUND THEN
        IF t.amount_minor <> p_amount THEN differing := differing || 'amount_minor'::text; END IF;
        IF t.currency <> p_currency THEN differing := differing || 'currency'::text; END IF;
        IF t.kind <> 'win' THEN differing := differing || 'kind'::text; END IF;
        IF t.player_id <> s.player_id THEN differing := differing || 'player_id'::text; END IF;
        IF t.round_external_id <> p_round_id THEN
            differing := differing || 'round_external_id'::text;
        END IF;
        IF cardinality(differing) > 0 THEN
            outcome := 'DUPLICATE_MISMATCH';
            detail := array_to_string(differing, ', ');
            RETURN;
        END IF;
        txn_id := t.id; txn_status := t.status; txn_created_at := t.created_at;
        txn_round_id := t.round_id; txn_reserved_used := t.reserved_used_minor;
        outcome := 'DUPLICATE';
        RETURN;
    END IF;

    IF p_currency <> s.currency THEN outcome := 'CURRENCY_MISMATCH'; RETURN; END IF;
    SELECT id, status, has_bet INTO r_id, r_status, r_has_bet FROM wallets_round
    WHERE provider_id = p_provider_id AND wallets_round.player_id = s.player_id
      AND external_id = p_round_id;
    IF (r_id IS NULL OR NOT r_has_bet) AND s.status <> 'open' THEN
        outcome := 'SESSION_EXPIRED';
        detail := 'a win without a bet in its round needs an open session';
        RETURN;
    END IF;
    txn_created_at := clock_timestamp();
    IF r_id IS NULL THEN
        -- No bet in this round (free spins, promotions): the win opens and settles it.
        INSERT INTO wallets_round
            (provider_id, player_id, session_id, external_id, status, has_bet, opened_at,
             closed_at)
        VALUES (p_provider_id, s.player_id, s.id, p_round_id, 'settled', false, txn_created_at,
                txn_created_at)
        ON CONFLICT ON CONSTRAINT round_unique_per_player DO NOTHING
        RETURNING id INTO r_id;
        IF r_id IS NULL THEN
            SELECT id INTO r_id FROM wallets_round
            WHERE provider_id = p_provider_id AND wallets_round.player_id = s.player_id
              AND external_id = p_round_id;
        END IF;
    ELSIF p_round_closed AND r_status = 'open' THEN
        UPDATE wallets_round SET status = 'settled', closed_at = txn_created_at WHERE id = r_id;
    END IF;

    balance := w.balance_minor + p_amount;
    reserved := w.reserved_minor + CASE WHEN p_hold THEN p_amount ELSE 0 END;
    txn_status := CASE WHEN p_hold THEN 'held' ELSE 'posted' END;
    INSERT INTO wallets_transaction
        (kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
         balance_after_minor, rounding_residue, external_id, round_external_id,
         reference_external_id, game_id, client_ip, request_id, processing_us, lock_wait_us,
         note, created_at, player_id, provider_id, round_id, session_id, wallet_id)
    VALUES
        ('win', txn_status, p_currency, p_amount, p_amount, 0,
         balance, p_residue, p_external_id, p_round_id,
         p_reference, s.game_id, p_client_ip, p_request_id,
         p_processing_us, wait_us, '', txn_created_at, s.player_id, p_provider_id, r_id,
         s.id, w.id)
    RETURNING id INTO txn_id;
    txn_round_id := r_id;
    txn_reserved_used := 0;
    UPDATE wallets_wallet SET balance_minor = balance, reserved_minor = reserved,
        updated_at = txn_created_at
    WHERE id = w.id;
    UPDATE wallets_gamesession SET last_activity_at = txn_created_at WHERE id = s.id;
    outcome := 'OK';
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0005_provider_credential_ed25519")]

    operations = [
        migrations.RunSQL(
            BET,
            reverse_sql="DROP FUNCTION IF EXISTS pitboss_bet",
        ),
        migrations.RunSQL(
            WIN,
            reverse_sql="DROP FUNCTION IF EXISTS pitboss_win",
        ),
    ]
