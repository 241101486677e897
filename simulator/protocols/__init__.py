"""Clients and conformance kits of the wallet protocols other than the native one.

Each module speaks one protocol as a provider would (its paths, signature, field names and
amount units) through any transport with `request(method, path, body, headers) -> HttpResult`
(simulator.clients.Connection over HTTP; the tests pass one that calls the application in
process). Each also exposes the canonical operations (balance, bet, win, rollback) for the
simulator and the property tests, and a kit of the protocol's own edge cases for
`manage.py wallet_conformance --protocol <name>`.
"""
