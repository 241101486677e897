"""Benchmark: the fraud screener's own time per call with a shadow version attached (target:
p99 < 1 ms), beside the same calls with no shadow.

In a throwaway database (`pitboss_bench_fraud_shadow`, dropped afterwards): 50 players with a
history of deposits, withdrawals and bets; then, for each player in turn, `fraud.screening.screen`
is called inside a transaction holding the wallet row lock, as the ledger calls it, for a
withdrawal (every rule of the kind reads the figures) and for a bet that the high-stake rule
looks at. Three modes alternate call by call so they see the same machine load:

- live: the default rules, no shadow;
- shadow: a draft of withdrawal velocity (max 2) and one of the high-stake rule (multiple 5)
  running in shadow, their decisions evaluated on the same figures and queued for the shadow
  recorder (a 3.00 bet is still below every min_stake: no query);
- shadow_lists: as shadow, with a block list of 1,000 ranges, a review list of 50 countries
  and a block list of 1,000 payment fingerprints (every withdrawal carries a fingerprint, one in
  ten of them on the list);
- shadow_every_bet: the high-stake shadow at min_stake 1.00 and a day's window, so that every bet
  reads its figures under the lock (the worst a shadow can add to bets).

Prints one JSON line: p50/p99 in microseconds per mode and call kind, and `shadow_part`: the
time of the shadow's own work in a call (evaluate_shadows + queueing), measured directly.

    python -m bench.fraud_shadow_screen [--quick] [--calls N]
"""

import argparse
import os
import statistics
import time

DB_NAME = "pitboss_bench_fraud_shadow"
PLAYERS = 50


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 calls per mode and kind")
    parser.add_argument("--calls", type=int, default=5_000, help="calls per mode and kind")
    args = parser.parse_args()
    calls = 200 if args.quick else args.calls

    from bench.common import drop_database, emit, log, recreate_database, setup_django

    base_url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = recreate_database(base_url, DB_NAME)
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        log(f"fraud shadow screener: {calls} calls per mode and kind")
        result = {"bench": "fraud_shadow_screen", "calls_per_mode": calls, **_run(calls)}
        result["target_us"] = 1000
        result["ok"] = all(
            result[mode][kind]["p99_us"] < 1000
            for mode in ("shadow", "shadow_lists")
            for kind in ("bet",)
        )
    finally:
        connection.close()
        drop_database(base_url, DB_NAME)
    emit(result)


def _run(calls: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from fraud import screening, services
    from fraud.choices import ListKind, ListPurpose, RuleKind
    from fraud.models import FraudList, FraudRule, ListEntry
    from tests import factories
    from wallets import hooks, ledger
    from wallets.models import Wallet

    hooks.screener = screening.screen
    admin = get_user_model().objects.create_superuser("bench", password=None)
    provider, _ = factories.make_provider("bench")
    players = []
    for index in range(PLAYERS):
        player = factories.make_player(registration_ip=f"192.0.2.{index + 1}")
        ledger.deposit(
            player=player, currency="EUR", amount_minor=1_000_00, external_id=f"d{index}"
        )
        for n in range(3):
            ledger.deposit(
                player=player, currency="EUR", amount_minor=15_00, external_id=f"s{index}-{n}"
            )
            ledger.withdraw(
                player=player, currency="EUR", amount_minor=1_00, external_id=f"w{index}-{n}"
            )
        session, _ = factories.open_session(player, provider)
        session = ledger.authenticate(provider=provider, session=session)
        for n in range(60):
            ledger.bet(
                provider=provider,
                session=session,
                transaction_id=f"b{index}-{n}",
                round_id=f"r{index}-{n}",
                amount_minor=2_00 + n,
                currency="EUR",
            )
        wallet = Wallet.objects.get(player=player, currency="EUR")
        players.append((player, wallet, session))

    def shadow(key, **fields):
        draft = services.create_draft(rule=FraudRule.objects.get(key=key), actor=admin, **fields)
        return draft

    velocity = shadow(RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 2})
    high_stake = shadow(RuleKind.HIGH_STAKE_AFTER_LOGIN, parameters={"stake_multiple": 5})
    every_bet = shadow(
        RuleKind.HIGH_STAKE_AFTER_LOGIN,
        parameters={"min_stake_minor": 1_00, "within_seconds": 86_400},
    )
    blocked = FraudList.objects.create(name="ranges", kind=ListKind.IP, purpose=ListPurpose.BLOCK)
    ListEntry.objects.bulk_create(
        ListEntry(list=blocked, value=f"10.{i // 256}.{i % 256}.0/24", reason="bench")
        for i in range(1000)
    )
    countries = FraudList.objects.create(
        name="countries", kind=ListKind.COUNTRY, purpose=ListPurpose.REVIEW
    )
    codes = sorted(__import__("fraud.lists", fromlist=["COUNTRIES"]).COUNTRIES)[:50]
    ListEntry.objects.bulk_create(ListEntry(list=countries, value=c, reason="bench") for c in codes)

    cards = FraudList.objects.create(
        name="cards", kind=ListKind.PAYMENT_FINGERPRINT, purpose=ListPurpose.BLOCK
    )
    ListEntry.objects.bulk_create(
        ListEntry(list=cards, value=f"card:bench-{i * 10}", reason="bench") for i in range(1000)
    )

    shadows = {
        "live": [],
        "shadow": [velocity, high_stake],
        "shadow_lists": [velocity, high_stake],
        "shadow_every_bet": [velocity, every_bet],
    }

    def set_mode(mode):
        wanted = {draft.pk for draft in shadows[mode]}
        for draft in (velocity, high_stake, every_bet):
            draft.refresh_from_db()
            if draft.state == "shadow" and draft.pk not in wanted:
                services.stop_shadow(version_id=draft.pk, actor=admin)
        for draft in shadows[mode]:
            draft.refresh_from_db()
            if draft.state != "shadow":
                services.start_shadow(version_id=draft.pk, actor=admin)
        FraudList.objects.filter(pk__in=[blocked.pk, countries.pk, cards.pk]).update(
            enabled=mode == "shadow_lists"
        )
        screening.invalidate_rule_cache()
        from fraud import lists

        lists.invalidate_list_cache()
        screening.active_rules()  # warm: the bench measures calls, not cache reloads

    timings = {mode: {"withdrawal": [], "bet": []} for mode in shadows}
    shadow_part = []
    from fraud import rules as rule_kinds

    real_evaluate_shadows = rule_kinds.evaluate_shadows

    def timed_evaluate_shadows(*args):
        started = time.perf_counter()
        out = real_evaluate_shadows(*args)
        shadow_part.append((time.perf_counter() - started) * 1e6)
        return out

    rule_kinds.evaluate_shadows = timed_evaluate_shadows
    screening.shadow_recorder.threaded = True
    round_size = 50
    done = 0
    while done < calls:
        for mode in timings:
            set_mode(mode)
            for i in range(round_size):
                player, wallet, session = players[(done + i) % PLAYERS]
                for kind, amount in (("withdrawal", 5_00), ("bet", 3_00)):
                    request = hooks.ScreeningRequest(
                        kind=kind,
                        player_id=player.pk,
                        wallet_id=wallet.pk,
                        currency="EUR",
                        amount_minor=amount,
                        provider_id=provider.pk if kind == "bet" else None,
                        session_id=session.pk if kind == "bet" else None,
                        client_ip="198.51.100.7",
                        seconds_since_authentication=5.0 if kind == "bet" else None,
                        payment_fingerprint=f"card:bench-{done + i}" if kind != "bet" else None,
                    )
                    with transaction.atomic():
                        Wallet.objects.select_for_update().get(pk=wallet.pk)
                        started = time.perf_counter()
                        screening.screen(request)
                        timings[mode][kind].append((time.perf_counter() - started) * 1e6)
        done += round_size
    screening.shadow_recorder.stop()
    out = {}
    for mode, kinds in timings.items():
        out[mode] = {
            kind: {
                "p50_us": round(statistics.median(values), 1),
                "p99_us": round(_percentile(values, 0.99), 1),
                "calls": len(values),
            }
            for kind, values in kinds.items()
        }
    out["shadow_part"] = {
        "p50_us": round(statistics.median(shadow_part), 1),
        "p99_us": round(_percentile(shadow_part, 0.99), 1),
        "calls": len(shadow_part),
    }
    out["shadow_decisions_written"] = screening.shadow_recorder.written
    return out


if __name__ == "__main__":
    main()
