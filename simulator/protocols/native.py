"""The native wallet API (docs/wallet-api.md) as a ProtocolClient: the reference the other
protocols' canonical operations are compared with."""

import json
import time

from simulator.clients import format_amount, parse_minor, sign
from simulator.protocols.base import Answer, ProtocolClient, Seat


class NativeClient(ProtocolClient):
    protocol = "native"

    def __init__(self, transport, provider_code: str, secret: str):
        self.transport = transport
        self.provider_code = provider_code
        self.secret = secret

    def call(self, operation: str, fields: dict, currency: str) -> Answer:
        path = f"/wallet/v1/{operation}"
        body = json.dumps(fields, separators=(",", ":")).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Provider-Code": self.provider_code,
            "X-Timestamp": ts,
            "X-Signature": sign(self.secret, ts, path, body),
        }
        result = self.transport.request("POST", path, body, headers)
        payload = result.body if isinstance(result.body, dict) else {}
        status = "OK" if payload.get("status") == "OK" else str(payload.get("code", "ERROR"))
        balance = payload.get("balance")
        return Answer(
            result,
            status,
            status,
            parse_minor(balance, currency) if isinstance(balance, str) else None,
            payload.get("duplicate"),
        )

    def balance(self, seat: Seat) -> Answer:
        return self.call("balance", {"session_token": seat.token}, seat.currency)

    def bet(self, seat: Seat, txn: str, round_id: str, amount_minor: int) -> Answer:
        return self.call(
            "bet",
            {
                "session_token": seat.token,
                "transaction_id": txn,
                "round_id": round_id,
                "amount": format_amount(amount_minor, seat.currency),
                "currency": seat.currency,
            },
            seat.currency,
        )

    def win(
        self,
        seat: Seat,
        txn: str,
        round_id: str,
        amount_minor: int,
        *,
        bet_txn: str,
        close: bool = False,
    ) -> Answer:
        return self.call(
            "win",
            {
                "session_token": seat.token,
                "transaction_id": txn,
                "round_id": round_id,
                "amount": format_amount(amount_minor, seat.currency),
                "currency": seat.currency,
                "round_closed": close,
                "reference_transaction_id": bet_txn,
            },
            seat.currency,
        )

    def rollback(self, seat: Seat, txn: str, reference: str, round_id: str) -> Answer:
        return self.call(
            "rollback",
            {
                "session_token": seat.token,
                "transaction_id": txn,
                "reference_transaction_id": reference,
                "round_id": round_id,
            },
            seat.currency,
        )
