"""Provider simulator and wallet conformance kit.

Both are HTTP clients of a running Pitboss; neither touches the database to move money.

`python manage.py simulate --base-url http://127.0.0.1:8000 [--rate 5] [--duration 60|0]
[--providers stellar-slots,royale-live,spinwave] [--faults latency=royale-live:300ms,
errors=spinwave:2%] [--seed 1] [--no-progress] [--token T --secrets code=secret,...]`
plays slots and live tables (several players in one round id, buy-ins), concurrent sessions per
player, provider retries and duplicate wins (identical payloads), rollbacks and tombstones,
abandoned sessions, late wins after a session closed, the fraud patterns (through the
back-office payment API), and at the end (every 30 minutes when running for ever) a provider
report with planted discrepancies for reconciliation. Faults per provider:

- `latency=<code>:<ms>`: the request's headers and half its body go out, the rest after the
  delay. The wallet's latency clock runs while it reads the body, so the slowness shows in the
  wallet's own metrics, as a slow provider link would (a plain client-side sleep before sending
  would be invisible to the wallet).
- `errors=<code>:<rate>`: that share of calls is preceded by a faulty one (bad signature or a
  truncated body), so the provider's error-rate figures move.

5xx answers and timeouts are retried with the identical payload, as the contract asks of
providers. Without --token / --secrets, development runs take the demo integrator's API token
and the providers' newest secrets from this project's database (never outside development).

`python manage.py wallet_conformance --base-url URL --provider CODE --secret S
--session-token T1,T2` (or `--launch [--token STAFF_TOKEN]`) checks the contract's edge cases
(docs/wallet-api.md) and prints PASS / FAIL per rule; it exits non-zero on any failure.
simulator.clients and simulator.conformance use only the standard library.
"""
