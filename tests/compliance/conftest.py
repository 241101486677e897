import json

import pytest
import redis
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from compliance import counters, policies
from compliance.models import GlobalSecurityPolicy, ProviderSecurityPolicy
from tests import factories


@pytest.fixture(autouse=True)
def clean_compliance_state():
    """Each test starts with no Redis counters, no in-process gates and no cached policy."""

    def reset():
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(f"{counters.prefix()}:*"))
        if keys:
            client.delete(*keys)
        counters.reset_local()
        policies.invalidate()

    reset()
    yield
    reset()


@pytest.fixture
def set_policy(db):
    """set_policy(provider=None, **fields): the global policy, or a provider's overrides."""

    def apply(provider=None, **fields):
        if provider is None:
            row = policies.global_policy()
            for name, value in fields.items():
                setattr(row, name, value)
            row.save()
        else:
            ProviderSecurityPolicy.objects.update_or_create(provider=provider, defaults=fields)
        policies.invalidate()

    return apply


def api_client(*groups: str) -> APIClient:
    user = factories.UserFactory(groups=list(groups))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


def post_json(client, path: str, body: dict):
    return client.post(path, data=json.dumps(body).encode(), content_type="application/json")


__all__ = ["GlobalSecurityPolicy", "api_client", "post_json"]
