"""Provider protocol adapters: the wallet as each game provider calls it.

Every studio and aggregator publishes its own seamless-wallet protocol. A provider's profile
names its protocol (Provider.protocol); its calls arrive at `/wallet/<protocol>/<provider
code>/` followed by the paths the protocol names (the native contract, docs/wallet-api.md, at
`/wallet/v1/<operation>`). One module per protocol, each with the same four parts and nothing
else:

- authenticate: the protocol's own signature or token check (credentials.py keeps the keys);
- parse: its request into the ledger's operations and typed fields (amounts in its units);
- call: the ledger functions the native API calls too, so every protocol lands in the same
  ledger, fraud screening, compliance checks, metrics and reconciliation;
- render: the outcome in its status names, HTTP conventions, field names and amount units,
  from one table mapping the ledger's outcome codes to its statuses.

No money rule lives in an adapter: what a protocol needs that the native contract lacks (a bet
and a win applied together, credits without a session, a cancel reusing its bet's id, ...) is
in wallets.ledger, once. base.serve runs the four parts the same way for every protocol;
front.py answers them before Django's request stack; registry.py lists the protocols.

native     Pitboss wallet API (docs/wallet-api.md)
hub88      Hub88 operator wallet API, RS_* statuses (docs/integrations/hub88.md)
evolution  Evolution One Wallet (docs/integrations/evolution.md)
pragmatic  Pragmatic Play seamless wallet (docs/integrations/pragmatic.md)
softswiss  SoftSwiss / BGaming game provider API (docs/integrations/softswiss.md)
"""
