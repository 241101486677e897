"""Lists: entries validated and normalised (CIDR ranges, countries, payment fingerprints,
player ids), with who added them and why; the list rules act on block and review lists and a
trust list relaxes the rules as trusting a player does."""

import pytest

from fraud import services
from fraud.choices import CaseKind, ListKind, ListPurpose, RuleKind
from fraud.lists import normalise_value
from fraud.models import Case, FraudList, ListEntry
from wallets.errors import ValidationFailed
from wallets.models import AuditRecord, Player, Transaction

pytestmark = pytest.mark.django_db


def make_list(kind, purpose, name=None):
    return FraudList.objects.create(name=name or f"{kind} {purpose}", kind=kind, purpose=purpose)


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        (ListKind.IP, "203.0.113.7", "203.0.113.7/32"),
        (ListKind.IP, " 10.0.0.0/8 ", "10.0.0.0/8"),
        (ListKind.IP, "2001:db8::/32", "2001:db8::/32"),
        (ListKind.COUNTRY, "mt", "MT"),
        (ListKind.PAYMENT_FINGERPRINT, "card:4f3a-99_z.1", "card:4f3a-99_z.1"),
    ],
)
def test_values_are_normalised(kind, value, stored):
    assert normalise_value(kind, value) == stored


@pytest.mark.parametrize(
    ("kind", "value", "words"),
    [
        (ListKind.IP, "10.0.0.1/8", "host bits set"),
        (ListKind.IP, "10.0.0.0/33", "not an IP address or CIDR range"),
        (ListKind.IP, "example.com", "not an IP address or CIDR range"),
        (ListKind.COUNTRY, "XX", "not a country"),
        (ListKind.COUNTRY, "DEU", "not a country"),
        (ListKind.PAYMENT_FINGERPRINT, "has spaces in it", "payment fingerprint"),
        (ListKind.PLAYER, "abc", "not the id of a player"),
        (ListKind.PLAYER, "999999999", "not the id of a player"),
        (ListKind.IP, "", "required"),
    ],
)
def test_bad_values_are_refused_with_the_reason(kind, value, words):
    fraud_list = make_list(kind, ListPurpose.BLOCK)
    with pytest.raises(ValidationFailed) as error:
        services.add_list_entry(fraud_list=fraud_list, value=value, reason="x", actor=None)
    assert error.value.field == "value" and words in error.value.message
    assert not ListEntry.objects.exists()


def test_an_entry_keeps_who_and_why_and_removal_is_audited(staff):
    officer = staff("compliance")
    fraud_list = make_list(ListKind.IP, ListPurpose.BLOCK)
    entry = services.add_list_entry(
        fraud_list=fraud_list, value="198.51.100.0/24", reason="card testing farm", actor=officer
    )
    assert (entry.added_by, entry.reason) == (officer, "card testing farm")
    with pytest.raises(ValidationFailed):
        services.add_list_entry(
            fraud_list=fraud_list, value="198.51.100.0/24", reason="again", actor=officer
        )
    with pytest.raises(ValidationFailed) as error:
        services.add_list_entry(
            fraud_list=fraud_list, value="198.51.101.0/24", reason=" ", actor=officer
        )
    assert error.value.field == "reason"
    services.remove_list_entry(entry=entry, actor=officer, reason="farm closed")
    record = AuditRecord.objects.get(action="fraud.list.remove")
    assert (
        record.before["value"] == "198.51.100.0/24"
        and record.before["reason"] == "card testing farm"
    )
    assert AuditRecord.objects.filter(action="fraud.list.add").count() == 1


def test_a_deposit_from_a_blocked_range_is_held_and_opens_a_case(money, new_player, staff):
    blocked = make_list(ListKind.IP, ListPurpose.BLOCK)
    services.add_list_entry(
        fraud_list=blocked, value="203.0.113.0/24", reason="fraud ring", actor=staff()
    )
    player = new_player()
    money.deposit(player, 50_00, ip="203.0.113.9")
    money.deposit(player, 50_00, ip="198.51.100.1")
    held = Transaction.objects.get(player=player, status="held")
    assert held.client_ip == "203.0.113.9"
    case = Case.objects.get(transaction=held)
    assert case.kind == CaseKind.HOLD and case.rule_keys == [RuleKind.LIST_BLOCK]
    assert case.hits[0]["figures"]["on_lists"][0]["value"] == "203.0.113.0/24"


def test_a_country_on_a_review_list_flags_the_withdrawal(money, new_player, staff):
    review = make_list(ListKind.COUNTRY, ListPurpose.REVIEW)
    services.add_list_entry(fraud_list=review, value="mt", reason="high risk", actor=staff())
    player = new_player(100_00)
    Player.objects.filter(pk=player.pk).update(country="MT")
    money.withdraw(player, 10_00)
    txn = Transaction.objects.get(player=player, kind="withdrawal")
    assert txn.status == "posted"
    case = Case.objects.get(transaction=txn)
    assert case.kind == CaseKind.FLAG and case.rule_keys == [RuleKind.LIST_REVIEW]


def test_a_player_on_a_trust_list_is_spared_the_rapid_deposit_rule(money, new_player, staff):
    trusted = make_list(ListKind.PLAYER, ListPurpose.TRUST)
    player = new_player()
    services.add_list_entry(
        fraud_list=trusted, value=str(player.pk), reason="VIP, verified", actor=staff()
    )
    for _ in range(3):
        money.deposit(player, 15_00)
    money.deposit(player, 200_00)
    money.withdraw(player, 150_00)
    assert not Transaction.objects.filter(player=player, status="held").exists()


def test_a_disabled_list_is_not_matched(money, new_player, staff):
    blocked = make_list(ListKind.IP, ListPurpose.BLOCK)
    services.add_list_entry(
        fraud_list=blocked, value="203.0.113.0/24", reason="ring", actor=staff()
    )
    blocked.enabled = False
    blocked.save()
    player = new_player()
    money.deposit(player, 50_00, ip="203.0.113.9")
    assert not Transaction.objects.filter(player=player, status="held").exists()
