"""Provider security compliance.

How it plugs into the wallet (only through wallets.hooks, registered in apps.py):

- `request_inspectors`: every authenticated wallet API call is scanned after its body is parsed
  and before the operation runs. Card numbers (Luhn, 13-19 digits, network prefixes), CVV-like
  and password-like fields and e-mail addresses are replaced in the parsed data (and in a
  client-chosen X-Request-Id) before the ledger sees them, so the raw value reaches no table,
  log line, response or violation evidence.
  Idempotency: a card number inside an id (transaction_id, round_id, reference ids) becomes
  `CARD-<last4>-<keyed hash>`; the same input always gives the same token, so a retried call
  is still recognised as the same transaction (DUPLICATE), a rollback naming the original id
  finds it, and two different cards never collide. A card number sent as a JSON number amount
  becomes a string and is refused (never credited).
- `call_observers`: INVALID_SIGNATURE / SIGNATURE_EXPIRED outcomes are counted per provider per
  fixed window in Redis (one pipelined INCR, in-process fallback); reaching the policy's
  threshold records one violation. SIGNATURE_EXPIRED records clock skew, IP_NOT_ALLOWED a call
  from outside the allowlist.
- At most one violation row per provider and kind per minute (Redis SET NX gate); repeats are
  counted in Redis and folded into the row's `occurrences` by the job.
- `credential_lifetime`: new credentials expire after the policy's lifetime when the policy
  says so (`issue_with_expiry`, off by default to keep the wallets contract unchanged).
- `metric_sources`: "security_violations" (count in the window once at the policy's alert
  threshold, else 0) and "security_violations_total".

The job (`compliance.evaluate`, beat every minute; `manage.py compliance_evaluate`) checks
credential lifetimes, folds repeats and restricts/suspends providers past the policy's
thresholds through wallets.services.change_provider_status (actor "policy:security").
"""
