"""The OpenAPI schema: valid, free of generator warnings, and covering the fixed contract."""

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db

# backoffice-api.md: the fixed paths and methods outside tools are written against.
CONTRACT = {
    "/api/v1/providers/": {"get", "post"},
    "/api/v1/providers/{code}/": {"get"},
    "/api/v1/providers/{code}/suspend": {"post"},
    "/api/v1/providers/{code}/restrict": {"post"},
    "/api/v1/providers/{code}/restore": {"post"},
    "/api/v1/providers/{code}/rotate-secret": {"post"},
    "/api/v1/players/": {"post"},
    "/api/v1/players/{id}/": {"get"},
    "/api/v1/payments/deposits": {"post"},
    "/api/v1/payments/withdrawals": {"post"},
    "/api/v1/sessions/": {"get", "post"},
    "/api/v1/sessions/{id}/close": {"post"},
    "/api/v1/transactions/": {"get"},
}


@pytest.fixture
def schema() -> dict:
    user = factories.UserFactory(groups=["support"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    return yaml.safe_load(response.content)


def test_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Pitboss API"
    validate_schema(schema)  # raises on an invalid document


def test_schema_covers_the_contract(schema):
    for path, methods in CONTRACT.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), (path, set(schema["paths"][path]))


def test_schema_documents_fields_filters_and_pagination(schema):
    components = schema["components"]["schemas"]
    assert {"code", "name", "currencies"} <= set(components["ProviderCreateRequest"]["required"])
    assert "secret" in components["ProviderWithSecret"]["properties"]
    assert "secret" not in components["Provider"]["properties"]
    assert "session_token" in components["SessionWithToken"]["properties"]
    assert "session_token" not in components["Session"]["properties"]
    assert {"balance", "reserved", "available", "currency"} <= set(
        components["Balance"]["properties"]
    )
    assert {"reason"} <= set(components["ReasonRequest"]["required"])
    assert set(components["PaginatedTransactionList"]["properties"]) >= {
        "count",
        "next",
        "previous",
        "results",
    }
    assert components["ProviderStatusEnum"]["enum"] == ["active", "restricted", "suspended"]

    def parameters(path: str) -> set[str]:
        return {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}

    assert {"player", "provider", "status", "idle_since", "idle_minutes", "has_reservation"} <= (
        parameters("/api/v1/sessions/")
    )
    assert {
        "player",
        "provider",
        "kind",
        "status",
        "created_after",
        "created_before",
        "ordering",
        "page",
        "page_size",
    } <= parameters("/api/v1/transactions/")
    security = {name for entry in schema.get("security", []) for name in entry} | {
        name
        for entry in schema["paths"]["/api/v1/providers/"]["get"].get("security", [])
        for name in entry
    }
    assert "tokenAuth" in security


def test_schema_generation_has_no_warnings(tmp_path):
    """drf-spectacular's own check: any warning (an enum name collision, an unresolvable
    serializer, a path parameter of unknown type) fails the build."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.read_text().startswith("openapi:")


def test_schema_and_docs_are_readable_without_a_token():
    # The schema documents the API, not its data; calling any endpoint still needs a token.
    assert APIClient().get("/api/schema/").status_code == 200
    assert APIClient().get("/api/docs/").status_code == 200
    assert APIClient().get("/api/v1/providers/").status_code == 401
