"""factory_boy factories for the core models. Money moves through wallets.ledger, not here:
`funded_player` deposits through the ledger so balances always equal the ledger sum."""

import itertools

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from wallets import ledger, services
from wallets.models import Player, Provider

_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pitboss-test-pw")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            for name in extracted:
                self.groups.add(Group.objects.get(name=name))

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()  # keep the password set by post-generation


def make_provider(code: str | None = None, *, currencies=("EUR", "JPY", "BHD"), **settings):
    """A provider and its plain secret (as the create-provider API would hand it out)."""
    code = code or f"prov{next(_seq)}"
    provider, secret = services.create_provider(
        code=code, name=f"Provider {code}", currencies=list(currencies), **settings
    )
    return provider, secret


def make_player(currency: str = "EUR", **fields) -> Player:
    return services.create_player(
        external_id=fields.pop("external_id", f"player-{next(_seq)}"),
        currency=currency,
        country=fields.pop("country", "MT"),
        registration_ip=fields.pop("registration_ip", "10.1.2.3"),
    )


def funded_player(amount_minor: int = 100_00, currency: str = "EUR", **fields) -> Player:
    player = make_player(currency, **fields)
    if amount_minor:
        ledger.deposit(
            player=player,
            currency=currency,
            amount_minor=amount_minor,
            external_id=f"seed-deposit-{player.pk}-{next(_seq)}",
        )
    return player


def open_session(player: Player, provider: Provider, currency: str = "EUR", buy_in_minor=0):
    """A launched session and its token."""
    return ledger.open_session(
        player=player,
        provider=provider,
        currency=currency,
        game_id="slot-1",
        buy_in_minor=buy_in_minor,
    )
