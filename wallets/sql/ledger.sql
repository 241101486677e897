-- The ledger's database functions: the current definition of each, in one place.
--
-- wallets/ledger.py calls them (nothing else does) and documents the rules they keep; the
-- migrations that change them apply this file as it is (wallets.sql.apply_ledger_functions),
-- so a database migrated from any earlier state ends with exactly these definitions.
--
-- Each money function runs inside the caller's transaction (a single statement in autocommit
-- is its own): it locks the wallet row FOR NO KEY UPDATE, measures the wait, re-reads the
-- session, provider and player under that lock, checks idempotency and every rule in the
-- order wallets/ledger.py documents, and either writes (round, ledger row, wallet, session) or
-- returns why not, writing nothing. Screening is decided by the caller beforehand and passed in
-- (p_decline / p_hold); it applies only to a new call that passed every other check. A
-- unique-index race on the ledger row raises (the caller replays); a race on the round is
-- settled here with ON CONFLICT.
--
-- Idempotency keys: (provider, id_scope, external_id) is unique, in wallets_idempotencykey:
-- the ledger is partitioned by created_at, and a unique index on it would have to include
-- created_at. The ledger's insert trigger (pitboss_key_row, below) writes a row's key in the
-- same statement as the row, so two first deliveries meet at that table's unique index and
-- the loser raises (the caller replays). A call's own id is looked up there (pitboss_keyed);
-- keys are pruned past the providers' retry horizon (wallets.partitions). A reference to
-- another row (the bet a rollback or a win names) falls back to the ledger's own index
-- (txn_by_provider_id) when its key is gone, so an old bet is still found.
-- Bets and wins live in the
-- scope '' ("@<player id>" when the provider's ids are unique only per player: p_per_player);
-- a rollback's own id lives in p_id_namespace plus that suffix, so a protocol whose cancel
-- reuses its bet's id (namespace 'cancel') is not a duplicate of the bet.
--
-- Outcome codes: OK, DUPLICATE, INVALID_TOKEN, DUPLICATE_MISMATCH (detail: the differing
-- fields), ROLLED_BACK, SESSION_EXPIRED, PROVIDER_SUSPENDED, PROVIDER_RESTRICTED,
-- PLAYER_BLOCKED, LIMIT_EXCEEDED (detail: 'excluded ...', 'session <minutes>' or '<kind>
-- <period> <limit> <counted>'), CURRENCY_MISMATCH, ROUND_CLOSED, INSUFFICIENT_FUNDS, DECLINED,
-- INVALID_REFERENCE, BET_SETTLED, BET_NOT_FOUND, ROUND_SETTLED. The wallet's balance and
-- reservation come back with every outcome, so an error answer needs no second query. A row's
-- processing_us is the caller's time until the call (p_processing_us) plus the function's own
-- until the row is written.

-- A session's last activity is refreshed by money calls once it has aged by this step: 1 % of
-- the provider's idle timeout, at most 10 seconds (a row written on every bet could never be a
-- HOT update: last_activity_at is indexed for idle cleanup).
CREATE FUNCTION pitboss_activity_step(p_idle_timeout_seconds integer)
RETURNS interval LANGUAGE sql IMMUTABLE AS $$
    SELECT LEAST(10, p_idle_timeout_seconds / 100.0) * interval '1 second'
$$;

CREATE FUNCTION pitboss_touch_session(p_session_id bigint, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE wallets_gamesession s SET last_activity_at = p_at
    FROM wallets_provider p
    WHERE s.id = p_session_id AND p.id = s.provider_id
      AND s.last_activity_at < p_at - pitboss_activity_step(p.idle_timeout_seconds);
END
$$;

-- The scope suffix of a provider's ids: '' when they are unique per provider, '@<player id>'
-- when only per player.
CREATE FUNCTION pitboss_player_scope(p_per_player boolean, p_player_id bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_per_player THEN '@' || p_player_id::text ELSE '' END
$$;


-- The ledger row whose idempotency key is (provider, scope, id), or a row of NULLs: through the
-- key table (one probe of its unique index, then the row by its full key (id, created_at),
-- which prunes to one partition). Within the retry horizon this is exact; p_past_horizon also
-- searches the ledger's own index when the key is gone (pruned): for references to old rows.
CREATE FUNCTION pitboss_keyed(
    p_provider_id bigint, p_scope text, p_external_id text, p_past_horizon boolean
) RETURNS wallets_transaction LANGUAGE plpgsql STABLE AS $$
DECLARE
    r wallets_transaction%ROWTYPE;
    k_id bigint;
    k_at timestamptz;
BEGIN
    SELECT transaction_id, created_at INTO k_id, k_at FROM wallets_idempotencykey
    WHERE provider_id = p_provider_id AND id_scope = p_scope AND external_id = p_external_id;
    IF FOUND THEN
        SELECT * INTO r FROM wallets_transaction WHERE id = k_id AND created_at = k_at;
    ELSIF p_past_horizon THEN
        SELECT * INTO r FROM wallets_transaction
        WHERE provider_id = p_provider_id AND id_scope = p_scope AND external_id = p_external_id;
    END IF;
    RETURN r;
END
$$;

-- Whether a rollback of this player named p_reference (a provider's bet or win id) before a
-- row under that id arrived: a tombstone. Found through the key table's partial index on
-- rollbacks (txn_key_rollback_reference), not by searching every partition of the ledger, so
-- exact within the providers' retry horizon: past it the rollback's key is pruned with every
-- other key, and a delivery that late is no longer stopped by it (docs/scaling.md).
CREATE FUNCTION pitboss_tombstone(p_provider_id bigint, p_reference text, p_player_id bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- PL/pgSQL, not SQL: its body is not checked when created (the early migrations create
    -- the functions before the key table exists).
    RETURN EXISTS (
        SELECT 1 FROM wallets_idempotencykey
        WHERE provider_id = p_provider_id AND kind = 'rollback'
          AND reference_external_id = p_reference AND player_id = p_player_id);
END
$$;


-- --- player protection: limits counted on the wallet row ------------------------------------
--
-- A wallet with limits (limits_counted_on set) counts, in plain integer columns of its own row
-- (locked anyway by every money call), what was deposited, wagered and lost (stakes - wins,
-- refunds and reversals included) in the current UTC day, ISO week and calendar month. A
-- wallet without limits pays one NULL test per call. Limits and figures are committed state
-- read under the wallet lock: N concurrent calls are judged as N in a row would be.

-- The wallet's figures brought to the period of p_at: a figure of an earlier UTC day, ISO week
-- or month starts again from zero.
CREATE FUNCTION pitboss_roll_limit_periods(w wallets_wallet, p_at timestamptz)
RETURNS wallets_wallet LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    today date := (p_at AT TIME ZONE 'UTC')::date;
BEGIN
    IF w.limits_counted_on = today THEN RETURN w; END IF;
    w.deposited_day_minor := 0; w.lost_day_minor := 0; w.wagered_day_minor := 0;
    IF date_trunc('week', w.limits_counted_on::timestamp) <> date_trunc('week', today::timestamp)
    THEN
        w.deposited_week_minor := 0; w.lost_week_minor := 0; w.wagered_week_minor := 0;
    END IF;
    IF date_trunc('month', w.limits_counted_on::timestamp) <> date_trunc('month', today::timestamp)
    THEN
        w.deposited_month_minor := 0; w.lost_month_minor := 0; w.wagered_month_minor := 0;
    END IF;
    w.limits_counted_on := today;
    RETURN w;
END
$$;

-- Why a stake of p_amount is refused ('<kind> <period> <limit> <counted>', the first limit
-- it would pass: loss before wager, day before week before month), or NULL. A zero stake
-- passes nothing.
CREATE FUNCTION pitboss_stake_refusal(w wallets_wallet, p_amount bigint)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_amount <= 0 THEN RETURN NULL; END IF;
    IF w.lost_day_minor + p_amount > w.loss_limit_day_minor THEN
        RETURN 'loss day ' || w.loss_limit_day_minor || ' ' || w.lost_day_minor;
    END IF;
    IF w.lost_week_minor + p_amount > w.loss_limit_week_minor THEN
        RETURN 'loss week ' || w.loss_limit_week_minor || ' ' || w.lost_week_minor;
    END IF;
    IF w.lost_month_minor + p_amount > w.loss_limit_month_minor THEN
        RETURN 'loss month ' || w.loss_limit_month_minor || ' ' || w.lost_month_minor;
    END IF;
    IF w.wagered_day_minor + p_amount > w.wager_limit_day_minor THEN
        RETURN 'wager day ' || w.wager_limit_day_minor || ' ' || w.wagered_day_minor;
    END IF;
    IF w.wagered_week_minor + p_amount > w.wager_limit_week_minor THEN
        RETURN 'wager week ' || w.wager_limit_week_minor || ' ' || w.wagered_week_minor;
    END IF;
    IF w.wagered_month_minor + p_amount > w.wager_limit_month_minor THEN
        RETURN 'wager month ' || w.wager_limit_month_minor || ' ' || w.wagered_month_minor;
    END IF;
    RETURN NULL;  -- a NULL limit compares NULL: no limit of that kind and period
END
$$;

-- The figures after a play: p_lost added to the net loss (negative for a win), p_wagered to
-- the stakes (negative for a refund). The periods must have been rolled to now.
CREATE FUNCTION pitboss_count_play(w wallets_wallet, p_lost bigint, p_wagered bigint)
RETURNS wallets_wallet LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    w.lost_day_minor := w.lost_day_minor + p_lost;
    w.lost_week_minor := w.lost_week_minor + p_lost;
    w.lost_month_minor := w.lost_month_minor + p_lost;
    w.wagered_day_minor := w.wagered_day_minor + p_wagered;
    w.wagered_week_minor := w.wagered_week_minor + p_wagered;
    w.wagered_month_minor := w.wagered_month_minor + p_wagered;
    RETURN w;
END
$$;

-- Write a wallet with limits: its balance, reservation and counted figures, in one UPDATE.
CREATE FUNCTION pitboss_save_counted_wallet(
    w wallets_wallet, p_balance bigint, p_reserved bigint, p_at timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE wallets_wallet SET balance_minor = p_balance, reserved_minor = p_reserved,
        updated_at = p_at, limits_counted_on = w.limits_counted_on,
        deposited_day_minor = w.deposited_day_minor,
        deposited_week_minor = w.deposited_week_minor,
        deposited_month_minor = w.deposited_month_minor,
        lost_day_minor = w.lost_day_minor, lost_week_minor = w.lost_week_minor,
        lost_month_minor = w.lost_month_minor,
        wagered_day_minor = w.wagered_day_minor, wagered_week_minor = w.wagered_week_minor,
        wagered_month_minor = w.wagered_month_minor
    WHERE id = w.id;
END
$$;


CREATE FUNCTION pitboss_bet_rules(
    p_provider_id bigint, p_session_id bigint, p_wallet_id bigint, p_token_hash text,
    p_player_ref text, p_external_id text, p_per_player boolean, p_round_id text, p_amount bigint,
    p_currency text, p_game_id text, p_residue numeric,
    p_decline boolean, p_client_ip inet, p_request_id text, p_processing_us integer,
    OUT outcome text, OUT detail text, OUT txn_id bigint, OUT txn_status text,
    OUT txn_created_at timestamptz, OUT balance bigint, OUT reserved bigint,
    OUT wallet_currency text, OUT wait_us integer, OUT txn_player_id bigint,
    OUT txn_round_id bigint, OUT txn_reserved_used bigint, OUT txn_session_id bigint,
    OUT txn_wallet_id bigint, OUT txn_game_id text
) LANGUAGE plpgsql AS $$
DECLARE
    w wallets_wallet%ROWTYPE;
    s wallets_gamesession%ROWTYPE;
    t wallets_transaction%ROWTYPE;
    f record;  -- a remembered refusal (a record: the table may come after this file)
    scope text;
    r_id bigint;
    r_status text;
    r_has_bet boolean;
    from_reservation bigint;
    provider_status text;
    player_status text;
    player_excluded_until timestamptz;
    player_session_minutes integer;
    restricted_since timestamptz;
    activity_step interval;
    started timestamptz := clock_timestamp();
    spent_us integer;
    differing text[] := '{}';
BEGIN
    IF p_session_id IS NULL THEN
        -- Known by its token only: the session look-up is part of this call.
        SELECT id, wallet_id INTO p_session_id, p_wallet_id FROM wallets_gamesession
        WHERE token_hash = p_token_hash AND provider_id = p_provider_id;
        IF NOT FOUND THEN outcome := 'INVALID_TOKEN'; RETURN; END IF;
    END IF;
    txn_session_id := p_session_id;
    txn_wallet_id := p_wallet_id;
    SELECT * INTO w FROM wallets_wallet WHERE id = p_wallet_id FOR NO KEY UPDATE;
    wait_us := (extract(epoch FROM clock_timestamp() - started) * 1000000)::integer;
    balance := w.balance_minor;
    reserved := w.reserved_minor;
    wallet_currency := w.currency;
    SELECT * INTO s FROM wallets_gamesession WHERE id = p_session_id;
    txn_player_id := s.player_id;
    txn_game_id := s.game_id;
    scope := pitboss_player_scope(p_per_player, s.player_id);
    -- A protocol naming the player beside the token: a token of another player is unknown.
    IF p_player_ref IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM wallets_player WHERE id = s.player_id AND external_id = p_player_ref
    ) THEN
        outcome := 'INVALID_TOKEN';
        detail := 'the token is another player''s';
        RETURN;
    END IF;

    t := pitboss_keyed(p_provider_id, scope, p_external_id, false);
    IF t.id IS NOT NULL THEN
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
        txn_game_id := t.game_id;
        outcome := CASE WHEN t.status = 'rolled_back' THEN 'ROLLED_BACK' ELSE 'DUPLICATE' END;
        RETURN;
    END IF;
    -- The same payload refused before under this id: the same refusal (the provider took it as
    -- final), whatever changed since. Another payload under a refused id is a new call.
    SELECT * INTO f FROM wallets_betrefusal
    WHERE provider_id = p_provider_id AND id_scope = scope AND external_id = p_external_id
      AND amount_minor = p_amount AND currency = p_currency AND player_id = s.player_id
      AND round_external_id = p_round_id;
    IF FOUND THEN
        outcome := f.code;
        detail := 'this transaction id was refused before (' || f.code || '): the refusal stands';
        RETURN;
    END IF;
    -- A rollback that arrived first left a tombstone: the late bet must not stand.
    IF pitboss_tombstone(p_provider_id, p_external_id, s.player_id) THEN
        outcome := 'ROLLED_BACK';
        RETURN;
    END IF;

    -- An excluded player hears so, also on a session the exclusion ended.
    SELECT p.status, p.excluded_until, p.session_limit_minutes
    INTO player_status, player_excluded_until, player_session_minutes
    FROM wallets_player p WHERE p.id = s.player_id;
    IF player_excluded_until > started THEN
        outcome := 'LIMIT_EXCEEDED';
        detail := 'excluded ' || CASE
            WHEN player_excluded_until >= '9999-12-31 00:00+00' THEN 'permanently'
            ELSE 'until '
                 || to_char(player_excluded_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                 || ' UTC' END;
        RETURN;
    END IF;
    IF s.status <> 'open' THEN outcome := 'SESSION_EXPIRED'; RETURN; END IF;
    IF s.created_at + player_session_minutes * interval '1 minute' <= started THEN
        outcome := 'LIMIT_EXCEEDED';
        detail := 'session ' || player_session_minutes;
        RETURN;
    END IF;
    SELECT status, status_changed_at, pitboss_activity_step(idle_timeout_seconds)
    INTO provider_status, restricted_since, activity_step
    FROM wallets_provider WHERE id = p_provider_id;
    IF provider_status = 'suspended' THEN outcome := 'PROVIDER_SUSPENDED'; RETURN; END IF;
    -- A restricted provider plays on only in sessions it authenticated before the restriction.
    IF provider_status = 'restricted' AND (
        s.authenticated_at IS NULL
        OR (restricted_since IS NOT NULL AND s.authenticated_at >= restricted_since)
    ) THEN
        outcome := 'PROVIDER_RESTRICTED';
        detail := 'provider is restricted: this session was not authenticated before the restriction';
        RETURN;
    END IF;
    IF player_status <> 'active' THEN outcome := 'PLAYER_BLOCKED'; RETURN; END IF;
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
    IF w.limits_counted_on IS NOT NULL THEN
        -- Inline on the hot path (a function call copies the row): roll over only on a new
        -- day, name the limit only when one is passed (NULL limit: the test is NULL, false).
        IF w.limits_counted_on <> (started AT TIME ZONE 'UTC')::date THEN
            w := pitboss_roll_limit_periods(w, started);
        END IF;
        IF p_amount > 0 AND (
            w.lost_day_minor + p_amount > w.loss_limit_day_minor
            OR w.lost_week_minor + p_amount > w.loss_limit_week_minor
            OR w.lost_month_minor + p_amount > w.loss_limit_month_minor
            OR w.wagered_day_minor + p_amount > w.wager_limit_day_minor
            OR w.wagered_week_minor + p_amount > w.wager_limit_week_minor
            OR w.wagered_month_minor + p_amount > w.wager_limit_month_minor
        ) THEN
            outcome := 'LIMIT_EXCEEDED';
            detail := pitboss_stake_refusal(w, p_amount);
            RETURN;
        END IF;
        w.lost_day_minor := w.lost_day_minor + p_amount;
        w.lost_week_minor := w.lost_week_minor + p_amount;
        w.lost_month_minor := w.lost_month_minor + p_amount;
        w.wagered_day_minor := w.wagered_day_minor + p_amount;
        w.wagered_week_minor := w.wagered_week_minor + p_amount;
        w.wagered_month_minor := w.wagered_month_minor + p_amount;
    END IF;
    IF p_decline THEN outcome := 'DECLINED'; RETURN; END IF;
    txn_created_at := clock_timestamp();
    txn_game_id := COALESCE(NULLIF(p_game_id, ''), s.game_id);

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
    spent_us := p_processing_us
        + (extract(epoch FROM txn_created_at - started) * 1000000)::integer;
    -- The row is hashed here, not by the chain trigger (which skips a row that comes with its
    -- hash): the head of the chain is on the wallet row this call has locked and read, and the
    -- new head is written in the wallet's one UPDATE below. The same digest of the same row.
    t := NULL;
    t.id := nextval('wallets_transaction_id_seq');
    t.kind := 'bet'; t.currency := p_currency; t.amount_minor := p_amount;
    t.delta_minor := -p_amount; t.balance_after_minor := balance;
    t.external_id := p_external_id; t.id_scope := scope; t.round_external_id := p_round_id;
    t.reference_external_id := ''; t.credit_type := ''; t.created_at := txn_created_at;
    t.player_id := s.player_id; t.provider_id := p_provider_id; t.wallet_id := w.id;
    IF w.chain_head_id IS NULL THEN
        SELECT c.head_id, c.prev INTO w.chain_head_id, w.chain_head_hash
        FROM pitboss_chain_start(w.id) c;
    END IF;
    t.chain_hash := pitboss_chain_digest(w.chain_head_hash, t);
    INSERT INTO wallets_transaction
        (id, kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
         balance_after_minor, rounding_residue, external_id, id_scope, round_external_id,
         reference_external_id, game_id, client_ip, request_id, processing_us, lock_wait_us,
         note, created_at, player_id, provider_id, round_id, session_id, wallet_id, credit_type,
         chain_hash)
    VALUES
        (t.id, 'bet', 'posted', p_currency, p_amount, -p_amount, from_reservation,
         balance, p_residue, p_external_id, scope, p_round_id,
         '', txn_game_id, p_client_ip, p_request_id,
         spent_us, wait_us, '', txn_created_at, s.player_id, p_provider_id, r_id,
         s.id, w.id, '', t.chain_hash);
    txn_id := t.id;
    txn_status := 'posted';
    txn_round_id := r_id;
    txn_reserved_used := from_reservation;
    IF w.limits_counted_on IS NULL THEN
        UPDATE wallets_wallet SET balance_minor = balance, reserved_minor = reserved,
            updated_at = txn_created_at, chain_head_id = t.id, chain_head_hash = t.chain_hash
        WHERE id = w.id;
    ELSE
        -- The counted figures with the balance, in the one UPDATE (rolled over, maybe).
        UPDATE wallets_wallet SET balance_minor = balance, reserved_minor = reserved,
            updated_at = txn_created_at, chain_head_id = t.id, chain_head_hash = t.chain_hash,
            limits_counted_on = w.limits_counted_on,
            lost_day_minor = w.lost_day_minor, lost_week_minor = w.lost_week_minor,
            lost_month_minor = w.lost_month_minor, wagered_day_minor = w.wagered_day_minor,
            wagered_week_minor = w.wagered_week_minor, wagered_month_minor = w.wagered_month_minor,
            deposited_day_minor = w.deposited_day_minor,
            deposited_week_minor = w.deposited_week_minor,
            deposited_month_minor = w.deposited_month_minor
        WHERE id = w.id;
    END IF;
    IF from_reservation > 0 OR s.last_activity_at < txn_created_at - activity_step THEN
        UPDATE wallets_gamesession SET last_activity_at = txn_created_at,
            reserved_minor = s.reserved_minor - from_reservation
        WHERE id = s.id;
    END IF;
    outcome := 'OK';
END
$$;


-- A bet: pitboss_bet_rules decides; a refusal it gives once it knows the player (every
-- refusal after the idempotency checks) is remembered in wallets_betrefusal under the bet's
-- key, in the same transaction and under the same wallet lock, so the id's answer never
-- changes: a delivery of the same id that arrives later (the first attempt of a call whose
-- retry was refused) gets the same refusal instead of being booked. No money moves.
CREATE FUNCTION pitboss_bet(
    p_provider_id bigint, p_session_id bigint, p_wallet_id bigint, p_token_hash text,
    p_player_ref text, p_external_id text, p_per_player boolean, p_round_id text, p_amount bigint,
    p_currency text, p_game_id text, p_residue numeric,
    p_decline boolean, p_client_ip inet, p_request_id text, p_processing_us integer,
    OUT outcome text, OUT detail text, OUT txn_id bigint, OUT txn_status text,
    OUT txn_created_at timestamptz, OUT balance bigint, OUT reserved bigint,
    OUT wallet_currency text, OUT wait_us integer, OUT txn_player_id bigint,
    OUT txn_round_id bigint, OUT txn_reserved_used bigint, OUT txn_session_id bigint,
    OUT txn_wallet_id bigint, OUT txn_game_id text
) LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.outcome, r.detail, r.txn_id, r.txn_status, r.txn_created_at, r.balance, r.reserved,
           r.wallet_currency, r.wait_us, r.txn_player_id, r.txn_round_id, r.txn_reserved_used,
           r.txn_session_id, r.txn_wallet_id, r.txn_game_id
    INTO outcome, detail, txn_id, txn_status, txn_created_at, balance, reserved,
         wallet_currency, wait_us, txn_player_id, txn_round_id, txn_reserved_used,
         txn_session_id, txn_wallet_id, txn_game_id
    FROM pitboss_bet_rules(p_provider_id, p_session_id, p_wallet_id, p_token_hash, p_player_ref,
                           p_external_id, p_per_player, p_round_id, p_amount, p_currency,
                           p_game_id, p_residue, p_decline, p_client_ip, p_request_id,
                           p_processing_us) r;
    IF outcome IN ('SESSION_EXPIRED', 'PROVIDER_SUSPENDED', 'PROVIDER_RESTRICTED',
                   'PLAYER_BLOCKED', 'CURRENCY_MISMATCH', 'ROUND_CLOSED', 'INSUFFICIENT_FUNDS',
                   'DECLINED', 'LIMIT_EXCEEDED')
       AND (detail IS NULL OR detail NOT LIKE 'this transaction id was refused before%') THEN
        INSERT INTO wallets_betrefusal
            (provider_id, player_id, external_id, id_scope, code, amount_minor, currency,
             round_external_id, created_at)
        VALUES (p_provider_id, txn_player_id, p_external_id,
                pitboss_player_scope(p_per_player, txn_player_id), outcome, p_amount, p_currency,
                p_round_id, clock_timestamp())
        -- The id's latest refusal stands (an earlier one had another payload).
        ON CONFLICT ON CONSTRAINT bet_refusal_unique_key DO UPDATE
            SET player_id = EXCLUDED.player_id, code = EXCLUDED.code,
                amount_minor = EXCLUDED.amount_minor, currency = EXCLUDED.currency,
                round_external_id = EXCLUDED.round_external_id, created_at = EXCLUDED.created_at;
    END IF;
END
$$;


-- A win. Protocols that settle each bet once (p_require_bet, p_single_settlement) refuse a win
-- whose bet is unknown (BET_NOT_FOUND) or whose round already paid a win (ROUND_SETTLED); the
-- native contract pays either (free spins, several wins per round).
CREATE FUNCTION pitboss_win(
    p_provider_id bigint, p_session_id bigint, p_wallet_id bigint, p_token_hash text,
    p_player_ref text, p_external_id text, p_per_player boolean, p_round_id text, p_amount bigint,
    p_currency text, p_round_closed boolean, p_reference text, p_residue numeric,
    p_require_bet boolean, p_single_settlement boolean, p_credit_type text,
    p_hold boolean, p_client_ip inet, p_request_id text, p_processing_us integer,
    OUT outcome text, OUT detail text, OUT txn_id bigint, OUT txn_status text,
    OUT txn_created_at timestamptz, OUT balance bigint, OUT reserved bigint,
    OUT wallet_currency text, OUT wait_us integer, OUT txn_player_id bigint,
    OUT txn_round_id bigint, OUT txn_reserved_used bigint, OUT txn_session_id bigint,
    OUT txn_wallet_id bigint, OUT txn_game_id text
) LANGUAGE plpgsql AS $$
DECLARE
    w wallets_wallet%ROWTYPE;
    s wallets_gamesession%ROWTYPE;
    t wallets_transaction%ROWTYPE;
    ref wallets_transaction%ROWTYPE;  -- the bet a win names (p_reference), this player's
    scope text;
    r_id bigint;
    r_status text;
    r_has_bet boolean;
    started timestamptz := clock_timestamp();
    spent_us integer;
    differing text[] := '{}';
BEGIN
    IF p_session_id IS NULL THEN
        -- Known by its token only: the session look-up is part of this call.
        SELECT id, wallet_id INTO p_session_id, p_wallet_id FROM wallets_gamesession
        WHERE token_hash = p_token_hash AND provider_id = p_provider_id;
        IF NOT FOUND THEN outcome := 'INVALID_TOKEN'; RETURN; END IF;
    END IF;
    txn_session_id := p_session_id;
    txn_wallet_id := p_wallet_id;
    SELECT * INTO w FROM wallets_wallet WHERE id = p_wallet_id FOR NO KEY UPDATE;
    wait_us := (extract(epoch FROM clock_timestamp() - started) * 1000000)::integer;
    balance := w.balance_minor;
    reserved := w.reserved_minor;
    wallet_currency := w.currency;
    SELECT * INTO s FROM wallets_gamesession WHERE id = p_session_id;
    txn_player_id := s.player_id;
    txn_game_id := s.game_id;
    scope := pitboss_player_scope(p_per_player, s.player_id);
    -- A protocol naming the player beside the token: a token of another player is unknown.
    IF p_player_ref IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM wallets_player WHERE id = s.player_id AND external_id = p_player_ref
    ) THEN
        outcome := 'INVALID_TOKEN';
        detail := 'the token is another player''s';
        RETURN;
    END IF;

    t := pitboss_keyed(p_provider_id, scope, p_external_id, false);
    IF t.id IS NOT NULL THEN
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
        txn_game_id := t.game_id;
        outcome := 'DUPLICATE';
        RETURN;
    END IF;
    -- A rollback that named this win before it arrived left a tombstone: it must not stand.
    IF pitboss_tombstone(p_provider_id, p_external_id, s.player_id) THEN
        outcome := 'ROLLED_BACK';
        detail := 'this win was rolled back before it arrived';
        RETURN;
    END IF;

    IF p_currency <> s.currency THEN outcome := 'CURRENCY_MISMATCH'; RETURN; END IF;
    SELECT id, status, has_bet INTO r_id, r_status, r_has_bet FROM wallets_round
    WHERE provider_id = p_provider_id AND wallets_round.player_id = s.player_id
      AND external_id = p_round_id;
    -- Nothing is paid into a round whose every bet was rolled back, nor against a bet that
    -- was rolled back (or whose rollback arrived first and left a tombstone).
    IF r_status = 'cancelled' THEN
        outcome := 'ROLLED_BACK';
        detail := 'every bet of this round was rolled back';
        RETURN;
    END IF;
    IF p_reference <> '' THEN
        ref := pitboss_keyed(p_provider_id, scope, p_reference, true);
        IF ref.player_id <> s.player_id THEN ref := NULL; END IF;  -- another player's: unknown
    END IF;
    IF p_reference <> '' AND (
        (ref.kind = 'bet' AND ref.status = 'rolled_back')
        OR pitboss_tombstone(p_provider_id, p_reference, s.player_id)
    ) THEN
        outcome := 'ROLLED_BACK';
        detail := 'the referenced bet was rolled back';
        RETURN;
    END IF;
    IF p_require_bet AND (
        CASE WHEN p_reference <> '' THEN ref.kind IS DISTINCT FROM 'bet'
             ELSE r_id IS NULL OR NOT r_has_bet END
    ) THEN
        outcome := 'BET_NOT_FOUND';
        RETURN;
    END IF;
    IF p_single_settlement AND r_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM wallets_transaction
        WHERE round_id = r_id AND kind = 'win' AND status IN ('posted', 'held')
    ) THEN
        outcome := 'ROUND_SETTLED';
        RETURN;
    END IF;
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
    spent_us := p_processing_us
        + (extract(epoch FROM txn_created_at - started) * 1000000)::integer;
    INSERT INTO wallets_transaction
        (kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
         balance_after_minor, rounding_residue, external_id, id_scope, round_external_id,
         reference_external_id, game_id, client_ip, request_id, processing_us, lock_wait_us,
         note, credit_type, created_at, player_id, provider_id, round_id, session_id, wallet_id)
    VALUES
        ('win', txn_status, p_currency, p_amount, p_amount, 0,
         balance, p_residue, p_external_id, scope, p_round_id,
         p_reference, s.game_id, p_client_ip, p_request_id,
         spent_us, wait_us, '', p_credit_type, txn_created_at, s.player_id, p_provider_id, r_id,
         s.id, w.id)
    RETURNING id INTO txn_id;
    txn_round_id := r_id;
    txn_reserved_used := 0;
    IF w.limits_counted_on IS NULL THEN
        UPDATE wallets_wallet SET balance_minor = balance, reserved_minor = reserved,
            updated_at = txn_created_at
        WHERE id = w.id;
    ELSE
        -- A win lowers the net loss (held or not: it is counted when credited).
        w := pitboss_count_play(pitboss_roll_limit_periods(w, txn_created_at), -p_amount, 0);
        PERFORM pitboss_save_counted_wallet(w, balance, reserved, txn_created_at);
    END IF;
    PERFORM pitboss_touch_session(s.id, txn_created_at);
    outcome := 'OK';
END
$$;


-- Cancel a bet in full, or (p_allow_win, for protocols that allow it) reverse a win.
CREATE FUNCTION pitboss_rollback(
    p_provider_id bigint, p_session_id bigint, p_player_id bigint, p_wallet_id bigint,
    p_external_id text, p_id_namespace text, p_per_player boolean, p_reference text,
    p_round_id text, p_allow_win boolean, p_client_ip inet, p_request_id text,
    p_processing_us integer,
    OUT outcome text, OUT detail text, OUT txn_id bigint, OUT txn_status text,
    OUT txn_created_at timestamptz, OUT balance bigint, OUT reserved bigint,
    OUT wallet_currency text, OUT wait_us integer, OUT txn_player_id bigint,
    OUT txn_round_id bigint, OUT txn_reserved_used bigint, OUT txn_session_id bigint,
    OUT txn_wallet_id bigint, OUT txn_game_id text
) LANGUAGE plpgsql AS $$
DECLARE
    w wallets_wallet%ROWTYPE;
    t wallets_transaction%ROWTYPE;
    b wallets_transaction%ROWTYPE;
    ref_scope text := pitboss_player_scope(p_per_player, p_player_id);
    scope text := p_id_namespace || pitboss_player_scope(p_per_player, p_player_id);
    ref_wallet bigint;
    locked integer;
    bet_session_status text;
    back_to_reservation bigint := 0;
    started timestamptz := clock_timestamp();
    spent_us integer;
    differing text[] := '{}';
BEGIN
    txn_player_id := p_player_id;
    txn_session_id := p_session_id;
    -- Another player's row is never locked nor shown: the reference is looked up among this
    -- player's rows (another's is an INVALID_REFERENCE, found below).
    b := pitboss_keyed(p_provider_id, ref_scope, p_reference, true);
    IF b.player_id = p_player_id THEN ref_wallet := b.wallet_id; END IF;
    IF ref_wallet IS NULL THEN
        -- A tombstone is likely. The bet may be in flight in any wallet of the player (another
        -- currency): lock them all, in id order (no deadlock with anything locking one), so
        -- the bet in flight commits first and is found below, or comes later and meets it.
        SELECT count(*) INTO locked FROM (
            SELECT id FROM wallets_wallet WHERE player_id = p_player_id ORDER BY id
            FOR NO KEY UPDATE
        ) AS every_wallet;
        ref_wallet := p_wallet_id;
    ELSE
        PERFORM 1 FROM wallets_wallet WHERE id = ref_wallet FOR NO KEY UPDATE;
    END IF;
    wait_us := (extract(epoch FROM clock_timestamp() - started) * 1000000)::integer;

    -- The reference, read again under the lock that guards its status.
    b := pitboss_keyed(p_provider_id, ref_scope, p_reference, true);
    IF b.id IS NOT NULL AND b.player_id = p_player_id THEN
        ref_wallet := b.wallet_id;  -- locked above, either way
    END IF;
    SELECT * INTO w FROM wallets_wallet WHERE id = ref_wallet;
    txn_wallet_id := w.id;
    txn_game_id := '';
    balance := w.balance_minor;
    reserved := w.reserved_minor;
    wallet_currency := w.currency;

    t := pitboss_keyed(p_provider_id, scope, p_external_id, false);
    IF t.id IS NOT NULL THEN
        IF t.kind <> 'rollback' THEN differing := differing || 'kind'::text; END IF;
        IF t.player_id <> p_player_id THEN differing := differing || 'player_id'::text; END IF;
        IF t.reference_external_id <> p_reference THEN
            differing := differing || 'reference_external_id'::text;
        END IF;
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
        txn_game_id := t.game_id;
        outcome := 'DUPLICATE';
        detail := CASE WHEN t.reference_id IS NULL THEN 'tombstone' END;
        RETURN;
    END IF;
    IF b.id IS NOT NULL AND (
        b.player_id <> p_player_id
        OR NOT (b.kind = 'bet' OR (b.kind = 'win' AND p_allow_win))
    ) THEN
        outcome := 'INVALID_REFERENCE';
        RETURN;
    END IF;
    -- A bet whose round already paid a win is settled: the provider voids such a round by
    -- other means, and staff see it.
    IF b.kind = 'bet' AND b.status = 'posted' AND EXISTS (
        SELECT 1 FROM wallets_transaction
        WHERE round_id = b.round_id AND kind = 'win' AND status IN ('posted', 'held')
    ) THEN
        outcome := 'BET_SETTLED';
        detail := 'the round of this bet has already paid a win';
        RETURN;
    END IF;
    -- A win is reversed only from what is available (a held win from its own reservation):
    -- never below zero. Refused, the caller opens a discrepancy for staff.
    IF b.kind = 'win' AND b.status = 'posted' AND w.balance_minor - w.reserved_minor < b.amount_minor
    THEN
        outcome := 'INSUFFICIENT_FUNDS';
        detail := 'the win to reverse is more than the available balance';
        RETURN;
    END IF;

    txn_created_at := clock_timestamp();
    txn_status := 'posted';
    txn_reserved_used := 0;
    IF b.id IS NULL OR b.status IN ('rolled_back', 'rejected') THEN
        -- Unknown: a tombstone the late bet will meet. Already rolled back (by another id):
        -- nothing to refund, the new id is recorded so it cannot be reused. Both move nothing.
        txn_round_id := b.round_id;
        spent_us := p_processing_us
            + (extract(epoch FROM txn_created_at - started) * 1000000)::integer;
        INSERT INTO wallets_transaction
            (kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
             balance_after_minor, external_id, id_scope, round_external_id,
             reference_external_id, game_id, client_ip, request_id, processing_us,
             lock_wait_us, note, created_at,
             player_id, provider_id, round_id, session_id, wallet_id, reference_id)
        VALUES
            ('rollback', 'posted', w.currency, 0, 0, 0, w.balance_minor, p_external_id, scope,
             p_round_id, p_reference, '', p_client_ip, p_request_id, spent_us, wait_us,
             CASE WHEN b.id IS NULL THEN 'tombstone: referenced bet unknown when rolled back'
                  ELSE 'already rolled back: nothing to refund' END,
             txn_created_at, p_player_id, p_provider_id, b.round_id, p_session_id, w.id, b.id)
        RETURNING id INTO txn_id;
        PERFORM pitboss_touch_session(p_session_id, txn_created_at);
        outcome := CASE WHEN b.id IS NULL THEN 'OK' ELSE 'DUPLICATE' END;
        detail := CASE WHEN b.id IS NULL THEN 'tombstone' END;
        RETURN;
    END IF;

    txn_round_id := b.round_id;
    spent_us := p_processing_us
        + (extract(epoch FROM txn_created_at - started) * 1000000)::integer;
    IF b.kind = 'win' THEN
        -- Reverse the win: out of the balance, and out of `reserved` when it was held.
        balance := w.balance_minor - b.amount_minor;
        reserved := w.reserved_minor - CASE WHEN b.status = 'held' THEN b.amount_minor ELSE 0 END;
        INSERT INTO wallets_transaction
            (kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
             balance_after_minor, external_id, id_scope, round_external_id,
             reference_external_id, game_id, client_ip, request_id, processing_us,
             lock_wait_us, note, created_at,
             player_id, provider_id, round_id, session_id, wallet_id, reference_id)
        VALUES
            ('rollback', 'posted', w.currency, b.amount_minor, -b.amount_minor, 0, balance,
             p_external_id, scope, p_round_id, p_reference, b.game_id, p_client_ip,
             p_request_id, spent_us, wait_us, 'win reversed', txn_created_at, p_player_id,
             p_provider_id, b.round_id, p_session_id, w.id, b.id)
        RETURNING id INTO txn_id;
        UPDATE wallets_transaction SET status = 'rolled_back',
            decided_at = CASE WHEN b.status = 'held' THEN txn_created_at ELSE decided_at END
        WHERE id = b.id AND created_at = b.created_at;  -- its full key: one partition
    ELSE
        -- Refund the bet in full. What it drew from its session's buy-in goes back to it while
        -- that session is open.
        SELECT status INTO bet_session_status FROM wallets_gamesession WHERE id = b.session_id;
        IF bet_session_status = 'open' THEN
            back_to_reservation := b.reserved_used_minor;
        END IF;
        balance := w.balance_minor + b.amount_minor;
        reserved := w.reserved_minor + back_to_reservation;
        INSERT INTO wallets_transaction
            (kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
             balance_after_minor, external_id, id_scope, round_external_id,
             reference_external_id, game_id, client_ip, request_id, processing_us,
             lock_wait_us, note, created_at,
             player_id, provider_id, round_id, session_id, wallet_id, reference_id)
        VALUES
            ('rollback', 'posted', w.currency, b.amount_minor, b.amount_minor, 0, balance,
             p_external_id, scope, p_round_id, p_reference, b.game_id, p_client_ip,
             p_request_id, spent_us, wait_us, '', txn_created_at, p_player_id, p_provider_id,
             b.round_id, p_session_id, w.id, b.id)
        RETURNING id INTO txn_id;
        UPDATE wallets_transaction SET status = 'rolled_back'
        WHERE id = b.id AND created_at = b.created_at;
        IF back_to_reservation > 0 THEN
            UPDATE wallets_gamesession SET reserved_minor = reserved_minor + back_to_reservation
            WHERE id = b.session_id;
        END IF;
        -- A round whose every bet was rolled back and that paid nothing is cancelled.
        IF b.round_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM wallets_transaction
            WHERE round_id = b.round_id
              AND ((kind = 'bet' AND status = 'posted')
                   OR (kind = 'win' AND status IN ('posted', 'held')))
        ) THEN
            UPDATE wallets_round SET status = 'cancelled', closed_at = txn_created_at
            WHERE id = b.round_id AND status = 'open';
        END IF;
    END IF;
    IF w.limits_counted_on IS NULL THEN
        UPDATE wallets_wallet SET balance_minor = balance, reserved_minor = reserved,
            updated_at = txn_created_at
        WHERE id = w.id;
    ELSE
        -- A refunded stake is neither wagered nor lost; a reversed win is lost again. Both
        -- count in the period of the rollback.
        w := pitboss_roll_limit_periods(w, txn_created_at);
        w := CASE WHEN b.kind = 'win' THEN pitboss_count_play(w, b.amount_minor, 0)
                  ELSE pitboss_count_play(w, -b.amount_minor, -b.amount_minor) END;
        PERFORM pitboss_save_counted_wallet(w, balance, reserved, txn_created_at);
    END IF;
    PERFORM pitboss_touch_session(p_session_id, txn_created_at);
    outcome := 'OK';
END
$$;


-- --- the tamper-evident chain ----------------------------------------------------------------
--
-- Each wallet's ledger rows form a hash chain: a row's chain_hash is SHA-256 of the previous
-- row's hash (32 zero bytes for the first chained row) and of the row's own content that never
-- changes (its id, wallet, player, provider, kind, currency, amounts, balance after, ids and
-- references, credit type, creation time). It is written with the row, in the same
-- transaction, under the wallet lock every insert holds, by a trigger for a row that comes
-- without its hash: every way a row is written (these functions, the Python ledger, a bulk
-- load) is chained alike. The wallet row keeps the chain's head (its last row's id and hash);
-- pitboss_bet, the hot path, hashes its own row from it and writes the new head with the
-- balance, in the one UPDATE of the wallet it makes anyway. Editing a
-- row's content, deleting or inserting a row breaks the chain from there on; verifying it
-- (pitboss_verify_chain, reconciliation.services.verify_ledger) names the first broken row.
-- A row's status is not in its hash: it moves (held -> posted, posted -> rolled_back) and the
-- ledger sums checked by reconciliation cover it.

CREATE FUNCTION pitboss_chain_digest(prev bytea, t wallets_transaction)
RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    -- Every text field length-prefixed, so no two different rows encode alike.
    RETURN sha256(
        COALESCE(prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
        || convert_to(concat_ws('|',
            t.id, t.wallet_id, t.player_id, COALESCE(t.provider_id::text, '-'),
            length(t.kind) || ':' || t.kind,
            length(t.currency) || ':' || t.currency,
            t.amount_minor, t.delta_minor, t.balance_after_minor,
            length(t.external_id) || ':' || t.external_id,
            length(t.id_scope) || ':' || t.id_scope,
            length(t.round_external_id) || ':' || t.round_external_id,
            length(t.reference_external_id) || ':' || t.reference_external_id,
            COALESCE(t.reference_id::text, '-'),
            length(t.credit_type) || ':' || t.credit_type,
            (extract(epoch FROM t.created_at) * 1000000)::bigint
        ), 'UTF8'));
END
$$;

-- The head of a wallet's chain when the wallet row has none (its first row, or its last one
-- was written before the head was kept on the wallet row): its latest row, found once (its id
-- order is the insert order: every insert holds the wallet lock), or, when every earlier row
-- is in an archived (detached) partition, the last of them as recorded at detach time.
CREATE FUNCTION pitboss_chain_start(p_wallet_id bigint, OUT head_id bigint, OUT prev bytea)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT id, chain_hash INTO head_id, prev FROM wallets_transaction
    WHERE wallet_id = p_wallet_id ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT last_id, last_hash INTO head_id, prev FROM wallets_archivedwallettotal
        WHERE wallet_id = p_wallet_id ORDER BY last_id DESC LIMIT 1;
    END IF;
END
$$;

-- The chain for every writer but pitboss_bet (which hashes its row itself, the hot path: see
-- there): fires only for a row that comes without its hash.
CREATE FUNCTION pitboss_chain_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_id bigint;
    prev bytea;
BEGIN
    -- The wallet's latest row, kept on the wallet row as the chain's head: one primary-key
    -- read, not a search of every partition of the ledger. Rows written before the chain
    -- existed have no hash: it starts anew.
    SELECT chain_head_id, chain_head_hash INTO head_id, prev FROM wallets_wallet
    WHERE id = NEW.wallet_id;
    IF head_id IS NULL THEN
        SELECT * INTO head_id, prev FROM pitboss_chain_start(NEW.wallet_id);
    END IF;
    IF NEW.id <= head_id THEN
        -- Not a new row: one the ledger holds already, moved to another partition by an
        -- update of its created_at (a delete and an insert). Its hash and the head stand.
        RETURN NEW;
    END IF;
    NEW.chain_hash := pitboss_chain_digest(prev, NEW);
    UPDATE wallets_wallet SET chain_head_id = NEW.id, chain_head_hash = NEW.chain_hash
    WHERE id = NEW.wallet_id;
    RETURN NEW;
END
$$;

-- (id of the first row whose hash is not what its content and predecessor say, or NULL; rows
-- checked; the last row's id and hash) for a wallet's rows after `after_id`, whose hash is
-- `after_hash` (NULL: from the wallet's first row).
CREATE FUNCTION pitboss_verify_chain(
    p_wallet_id bigint, p_after_id bigint, p_after_hash bytea,
    OUT broken_id bigint, OUT checked bigint, OUT last_id bigint, OUT last_hash bytea
) LANGUAGE plpgsql STABLE AS $$
DECLARE
    t wallets_transaction%ROWTYPE;
    prev bytea := p_after_hash;
BEGIN
    checked := 0;
    last_id := p_after_id;
    last_hash := p_after_hash;
    FOR t IN SELECT * FROM wallets_transaction
             WHERE wallet_id = p_wallet_id AND id > COALESCE(p_after_id, 0) ORDER BY id
    LOOP
        IF t.chain_hash IS NULL THEN
            -- Written before the chain existed: not chained (nothing to check); the chain
            -- starts after it. An unchained row after a chained one was slipped in.
            IF prev IS NOT NULL THEN broken_id := t.id; RETURN; END IF;
        ELSIF t.chain_hash <> pitboss_chain_digest(prev, t) THEN
            broken_id := t.id;
            RETURN;
        ELSE
            checked := checked + 1;
        END IF;
        prev := t.chain_hash;
        last_id := t.id;
        last_hash := t.chain_hash;
    END LOOP;
END
$$;

-- A ledger row's idempotency key, written with the row (every way a row is written: these
-- functions, the Python ledger, a bulk load). A key taken already raises unique_violation on
-- txn_unique_key_provider_scope_id or txn_unique_key_payment_id: the insert fails whole.
CREATE FUNCTION pitboss_key_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wallets_idempotencykey
        (transaction_id, created_at, provider_id, kind, id_scope, external_id, player_id,
         reference_external_id)
    VALUES (NEW.id, NEW.created_at, NEW.provider_id, NEW.kind, NEW.id_scope, NEW.external_id,
            NEW.player_id, CASE WHEN NEW.kind = 'rollback' THEN NEW.reference_external_id
                                ELSE '' END);
    RETURN NEW;
END
$$;

-- A row deleted takes its key with it. An UPDATE that moves a row to another partition (its
-- created_at changed: the ledger never does, tests backdate rows) is a delete and an insert,
-- each firing its trigger: the key follows the row.
CREATE FUNCTION pitboss_key_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM wallets_idempotencykey WHERE transaction_id = OLD.id;
    RETURN OLD;
END
$$;

DO $$
BEGIN
    IF to_regclass('wallets_idempotencykey') IS NOT NULL THEN
        DROP TRIGGER IF EXISTS pitboss_key ON wallets_transaction;
        CREATE TRIGGER pitboss_key BEFORE INSERT ON wallets_transaction
            FOR EACH ROW EXECUTE FUNCTION pitboss_key_row();
        DROP TRIGGER IF EXISTS pitboss_key_gone ON wallets_transaction;
        CREATE TRIGGER pitboss_key_gone BEFORE DELETE ON wallets_transaction
            FOR EACH ROW EXECUTE FUNCTION pitboss_key_gone();
    END IF;
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'wallets_transaction' AND column_name = 'chain_hash'
                 AND table_schema = current_schema()) THEN
        DROP TRIGGER IF EXISTS pitboss_chain ON wallets_transaction;
        -- A row that comes with its hash was hashed by its writer (pitboss_bet, which writes
        -- the head with the wallet), or is a row moved to another partition by an update of
        -- its created_at: either way not the trigger's to hash. A wrong hash given is what
        -- verifying the chain finds.
        CREATE TRIGGER pitboss_chain BEFORE INSERT ON wallets_transaction
            FOR EACH ROW WHEN (NEW.chain_hash IS NULL) EXECUTE FUNCTION pitboss_chain_row();
    END IF;
END
$$;
