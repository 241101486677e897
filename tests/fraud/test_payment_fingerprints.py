"""Payment fingerprints over real HTTP: a deposit or withdrawal may carry the gateway's
`payment_fingerprint`; it is kept on the ledger row, the list rules match it (block holds,
review flags, trust relaxes the rules a trusted player skips), a bad one is refused naming the
field and the reason with nothing changed, a replay must carry the same one, and backtests
replay it."""

import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fraud import services
from fraud.choices import CaseKind, ListKind, ListPurpose, RuleKind
from fraud.models import Case, FraudList, FraudRule, RuleHit
from tests import factories
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db

BLOCKED, REVIEWED, TRUSTED = "card:blocked-4f3a", "iban.DE-review_77", "wallet:trusted.1"


@pytest.fixture
def integrator():
    user = factories.UserFactory(groups=["integrator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def lists(staff):
    officer = staff("compliance")
    made = {}
    for purpose, value in (
        (ListPurpose.BLOCK, BLOCKED),
        (ListPurpose.REVIEW, REVIEWED),
        (ListPurpose.TRUST, TRUSTED),
    ):
        fraud_list = FraudList.objects.create(
            name=f"cards {purpose}", kind=ListKind.PAYMENT_FINGERPRINT, purpose=purpose
        )
        services.add_list_entry(fraud_list=fraud_list, value=value, reason="test", actor=officer)
        made[purpose] = fraud_list
    return made


class Payments:
    """POSTs to the payment API with the after-commit listeners run (the case, the hits)."""

    def __init__(self, client, capture):
        self.client, self.capture, self.count = client, capture, 0

    def post(self, kind, player, amount, *, external_id=None, **extra):
        self.count += 1
        body = {
            "player": player.pk,
            "amount": amount,
            "currency": "EUR",
            "external_id": external_id or f"{kind}-{self.count}",
            **extra,
        }
        with self.capture(execute=True):
            return self.client.post(
                f"/api/v1/payments/{kind}s",
                data=json.dumps(body).encode(),
                content_type="application/json",
            )

    def deposit(self, player, amount, **extra):
        return self.post("deposit", player, amount, **extra)

    def withdrawal(self, player, amount, **extra):
        return self.post("withdrawal", player, amount, **extra)


@pytest.fixture
def pay(integrator, django_capture_on_commit_callbacks):
    return Payments(integrator, django_capture_on_commit_callbacks)


def _funded(pay, amount="500.00"):
    player = factories.make_player()
    assert pay.deposit(player, amount).status_code == 201
    return player


def _balance(player):
    wallet = Wallet.objects.get(player=player, currency="EUR")
    return wallet.balance_minor, wallet.reserved_minor


def test_a_withdrawal_to_a_blocked_fingerprint_is_held_with_a_case(pay, lists, staff, client):
    player = _funded(pay)
    response = pay.withdrawal(player, "50.00", payment_fingerprint=BLOCKED)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["payment_fingerprint"]) == ("held", BLOCKED)
    txn = Transaction.objects.get(pk=body["id"])
    assert txn.payment_fingerprint == BLOCKED
    assert _balance(player) == (500_00, 50_00)  # reserved until staff decide
    case = Case.objects.get(transaction=txn)
    assert case.kind == CaseKind.HOLD and case.rule_keys == [RuleKind.LIST_BLOCK]
    hit = RuleHit.objects.get(case=case)
    assert hit.figures["on_lists"] == [
        {"kind": "payment_fingerprint", "value": BLOCKED, "list": lists[ListPurpose.BLOCK].name}
    ]
    assert hit.version == services.live_version(FraudRule.objects.get(key=RuleKind.LIST_BLOCK))
    # The reviewer sees the fingerprint on the case page.
    client.force_login(staff("back_office"))
    page = client.get(reverse("admin:fraud_case_change", args=[case.pk]))
    assert f"payment fingerprint <code>{BLOCKED}</code>" in page.content.decode()

    # The same player paying out to another card, or with no fingerprint: paid out.
    other = pay.withdrawal(player, "10.00", payment_fingerprint="card:someone-else")
    plain = pay.withdrawal(player, "10.00")
    assert other.json()["status"] == "posted" and plain.json()["status"] == "posted"
    assert plain.json()["payment_fingerprint"] is None
    # Case matters: a fingerprint is matched exactly.
    upper = pay.withdrawal(player, "10.00", payment_fingerprint=BLOCKED.upper())
    assert upper.json()["status"] == "posted"


def test_a_deposit_from_a_blocked_fingerprint_is_held(pay, lists):
    player = factories.make_player()
    response = pay.deposit(player, "40.00", payment_fingerprint=BLOCKED)
    assert response.status_code == 201 and response.json()["status"] == "held"
    assert _balance(player) == (40_00, 40_00)
    assert Case.objects.get(transaction_id=response.json()["id"]).kind == CaseKind.HOLD


def test_a_block_rule_set_to_decline_still_holds_a_payment(pay, lists):
    """Money in a payment is never refused by a rule: decline holds it (as for every rule)."""
    from tests.fraud.conftest import publish_rule

    publish_rule(RuleKind.LIST_BLOCK, action="decline")
    player = _funded(pay)
    response = pay.withdrawal(player, "20.00", payment_fingerprint=BLOCKED)
    assert response.status_code == 201 and response.json()["status"] == "held"


def test_a_reviewed_fingerprint_is_paid_and_flagged(pay, lists):
    player = _funded(pay)
    response = pay.withdrawal(player, "30.00", payment_fingerprint=REVIEWED)
    assert response.status_code == 201 and response.json()["status"] == "posted"
    assert _balance(player) == (470_00, 0)
    case = Case.objects.get(transaction_id=response.json()["id"])
    assert case.kind == CaseKind.FLAG and case.rule_keys == [RuleKind.LIST_REVIEW]
    assert case.hits[0]["figures"]["on_lists"][0]["value"] == REVIEWED


def test_a_trusted_fingerprint_is_trusted(pay, lists):
    """Three small deposits then a large withdrawal: held by the rapid-deposit rule, unless the
    withdrawal goes to a trusted fingerprint (the rule skips trusted calls)."""
    player = _funded(pay, "200.00")
    for _ in range(3):
        assert pay.deposit(player, "10.00").json()["status"] == "posted"
    untrusted = pay.withdrawal(player, "100.00", payment_fingerprint="card:unknown")
    assert untrusted.json()["status"] == "held"
    assert Case.objects.get(transaction_id=untrusted.json()["id"]).rule_keys == [
        RuleKind.RAPID_DEPOSITS_WITHDRAWAL
    ]
    trusted = pay.withdrawal(player, "100.00", payment_fingerprint=TRUSTED)
    assert trusted.status_code == 201 and trusted.json()["status"] == "posted"
    assert not Case.objects.filter(transaction_id=trusted.json()["id"]).exists()
    assert _balance(player) == (130_00, 100_00)


def test_a_trusted_fingerprint_does_not_lift_a_block(pay, lists, staff):
    """Trust relaxes the rules a trusted player skips; a block list still holds."""
    services.add_list_entry(
        fraud_list=lists[ListPurpose.BLOCK], value=TRUSTED, reason="both", actor=staff()
    )
    player = _funded(pay)
    assert pay.withdrawal(player, "10.00", payment_fingerprint=TRUSTED).json()["status"] == "held"


BAD_FINGERPRINTS = [
    ("", "empty"),
    ("x" * 129, "129 characters long: at most 128"),
    ("card 1234", "' ' at position 5"),
    ("card/1234", "'/' at position 5"),
    ("carte-é", "'é' at position 7"),
    ("tab\there", "'\\t' at position 4"),
    (1234, "must be a string"),
    (["card:1"], "must be a string"),
    ({"card": 1}, "must be a string"),
    (True, "must be a string"),
]


@pytest.mark.parametrize(("value", "reason"), BAD_FINGERPRINTS)
def test_a_bad_fingerprint_is_refused_naming_the_field_and_changes_nothing(
    pay, lists, value, reason
):
    player = _funded(pay)
    before = (_balance(player), Transaction.objects.count(), Case.objects.count())
    for kind in ("deposit", "withdrawal"):
        response = pay.post(kind, player, "10.00", payment_fingerprint=value)
        assert response.status_code == 400, (kind, response.content)
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR" and body["field"] == "payment_fingerprint"
        assert reason in body["message"], body
    assert (_balance(player), Transaction.objects.count(), Case.objects.count()) == before


def test_longest_and_null_fingerprints_are_accepted(pay):
    player = factories.make_player()
    longest = "A-z_0:9." * 16
    assert len(longest) == 128
    response = pay.deposit(player, "1.00", payment_fingerprint=longest)
    assert response.status_code == 201 and response.json()["payment_fingerprint"] == longest
    response = pay.deposit(player, "1.00", payment_fingerprint=None)
    assert response.status_code == 201 and response.json()["payment_fingerprint"] is None


def test_a_replay_must_carry_the_same_fingerprint(pay):
    player = _funded(pay)
    first = pay.withdrawal(player, "10.00", external_id="wd-x", payment_fingerprint="card:1")
    assert first.status_code == 201
    again = pay.withdrawal(player, "10.00", external_id="wd-x", payment_fingerprint="card:1")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    for changed in ({"payment_fingerprint": "card:2"}, {}):
        mismatch = pay.withdrawal(player, "10.00", external_id="wd-x", **changed)
        assert mismatch.status_code == 409, mismatch.content
        body = mismatch.json()
        assert body["code"] == "DUPLICATE_MISMATCH" and "payment_fingerprint" in body["message"]
    assert Transaction.objects.filter(kind="withdrawal").count() == 1


def test_backtests_match_the_fingerprints_the_rows_carry(pay, lists):
    player = _funded(pay)
    pay.withdrawal(player, "10.00", payment_fingerprint="card:fine")
    pay.withdrawal(player, "11.00", payment_fingerprint=BLOCKED)
    pay.deposit(player, "12.00", payment_fingerprint=BLOCKED)
    block = services.live_version(FraudRule.objects.get(key=RuleKind.LIST_BLOCK))
    report = services.request_backtest(version_id=block.pk, days=1, actor=None, run_now=True)
    assert report.result["hits"] == 2, report.result
    assert sorted((row["kind"], row["amount_minor"]) for row in report.result["by_kind"]) == [
        ("deposit", 12_00),
        ("withdrawal", 11_00),
    ]

    # Rapid deposits: the withdrawal to a trusted fingerprint is skipped, as live.
    for _ in range(3):
        pay.deposit(player, "10.00")
    pay.withdrawal(player, "100.00", payment_fingerprint=TRUSTED)
    pay.withdrawal(player, "100.00", payment_fingerprint="card:unknown")
    rapid = services.live_version(FraudRule.objects.get(key=RuleKind.RAPID_DEPOSITS_WITHDRAWAL))
    report = services.request_backtest(version_id=rapid.pk, days=1, actor=None, run_now=True)
    assert report.result["hits"] == 1, report.result


def test_staff_find_every_payment_made_with_one_fingerprint(pay, staff, client):
    first, second = _funded(pay), _funded(pay)
    a = pay.deposit(first, "5.00", payment_fingerprint="card:shared-1").json()["id"]
    b = pay.withdrawal(second, "6.00", payment_fingerprint="card:shared-1").json()["id"]
    pay.withdrawal(second, "7.00", payment_fingerprint="card:shared-10")
    pay.withdrawal(second, "8.00")
    reader = APIClient()
    reader.force_authenticate(staff("back_office"))
    found = reader.get("/api/v1/transactions/?payment_fingerprint=card:shared-1")
    assert found.status_code == 200, found.content
    assert [row["id"] for row in found.json()["results"]] == [b, a]  # newest first
    too_long = reader.get("/api/v1/transactions/?payment_fingerprint=" + "x" * 129)
    assert too_long.status_code == 400 and "payment_fingerprint" in too_long.json()

    # The player's context page shows the fingerprint of each recent payment.
    client.force_login(staff(superuser=True))
    page = client.get(reverse("admin:fraud_player_context", args=[second.pk]))
    assert page.status_code == 200 and "<code>card:shared-10</code>" in page.content.decode()
