"""Schemathesis against the project's own OpenAPI schema (/api/schema/), in process through the
WSGI application, authenticated as a superuser so every real handler runs. Every operation is
fuzzed in every request body media type it takes (JSON, form, multipart: the report upload's
file too) and in its query string, with valid data (positive) and data that breaks the schema
(negative), with the path parameters of real objects (so bodies reach the handlers) and with
generated ones. Whatever is sent: no 5xx, and a refused call (4xx) writes nothing: every row of
the back office's tables (money, sessions, cases, reports, audit records, policies) compares
equal before and after it. Schemathesis never writes a lone surrogate, a repeated key, NaN or a
deep value: a second test writes those into every field of every JSON body. Derandomized: a run
is reproducible."""

import contextlib
import json
from functools import partial

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from tests import factories
from tests.reliability.fuzzing import Fingerprint, make_world

EXAMPLES_PER_RUN = 5
pytestmark = pytest.mark.django_db(transaction=True)

FIGURES = {"cases": 0, "operations": 0, "refused": 0}


@pytest.fixture
def wsgi_app():
    """The real WSGI application, inside the test's transaction: like Django's test client, keep
    it from closing the test's connection at each request's start and end."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def real_path_parameters(path: str, world: dict) -> dict:
    """The path parameters of existing objects for `path`, so that bodies reach the handler."""
    by_prefix = {
        "/api/v1/holds/": world["case"].pk,
        "/api/v1/cases/": world["case"].pk,
        "/api/v1/snoozes/": world["snooze"].pk,
        "/api/v1/alerts/": world["alert"].pk,
        "/api/v1/discrepancies/": world["discrepancy"].pk,
        "/api/v1/sessions/": world["session"].pk,
        "/api/v1/players/": world["player"].pk,
        "/api/v1/transactions/": world["transaction"].pk,
        "/api/v1/compliance/violations/": world["violation"].pk,
        "/api/v1/reconciliation/runs/": world["run"].pk,
        "/api/v1/audit/": 1,
        "/api/v1/fraud/versions/": world["rule_version"].pk,
        "/api/v1/fraud/backtests/": world["backtest"].pk,
        "/api/v1/fraud/lists/": world["fraud_list"].pk,
        "/api/v1/fraud/list-entries/": world["list_entry"].pk,
    }
    parameters = {}
    if "{code}" in path:
        parameters["code"] = world["provider"].code
    if "{key}" in path:
        parameters["key"] = "withdrawal_velocity"
    if "{fingerprint}" in path:
        parameters["fingerprint"] = world["fingerprint"]
    if "{player_id}" in path:
        parameters["player_id"] = world["player"].pk
    if "{id}" in path:
        parameters["id"] = next(pk for prefix, pk in by_prefix.items() if path.startswith(prefix))
    return parameters


def runs_of(operation, world):
    """(label, strategy) for each media type x generation mode, real path parameters first."""
    media_types = [body.media_type for body in operation.body] or [None]
    real = real_path_parameters(operation.path, world)
    for index, media_type in enumerate(media_types):
        # Data that breaks the schema in the main media type (JSON, or the query string); the
        # form and multipart encodings of the same fields with valid data.
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if index == 0 else [])
        for mode in modes:
            label = f"{mode.value} {media_type or 'query'}"
            yield (
                label,
                operation.as_strategy(
                    generation_mode=mode, media_type=media_type, path_parameters=real or None
                ),
            )
    if real:
        yield "generated path", operation.as_strategy(media_type=media_types[0])


def fuzz(strategy, label: str, *, auth: dict, fingerprint: Fingerprint, failures: dict):
    """EXAMPLES_PER_RUN cases of `strategy`: a 5xx, or a 4xx that wrote, is a failure."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_RUN,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        FIGURES["cases"] += 1
        before = fingerprint.last or fingerprint.take()
        response = case.call(headers=auth)
        where = f"{case.method} {case.operation.path} ({label})"
        example = f"{case.formatted_path} query={case.query} body={case.body!r:.200}"
        fingerprint.last = None  # a call that was not refused may have written
        if response.status_code >= 500:
            failures.setdefault(where, f"{example} -> {response.status_code}")
        elif response.status_code >= 400:
            FIGURES["refused"] += 1
            fingerprint.last = after = fingerprint.take()
            changed = Fingerprint.changed(before, after)
            if changed:
                failures.setdefault(
                    where, f"{example} -> {response.status_code} but wrote {changed}"
                )

    with contextlib.suppress(Unsatisfiable):  # no negative value for an operation without inputs
        run()


def test_no_schema_operation_answers_5xx_and_refusals_write_nothing(wsgi_app):
    staff = factories.UserFactory(is_superuser=True)
    auth = {"Authorization": f"Token {Token.objects.create(user=staff).key}"}
    world = make_world()
    fingerprint = Fingerprint()
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, headers=auth)
    failures = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        FIGURES["operations"] += 1
        for label, strategy in runs_of(operation, world):
            fuzz(strategy, label, auth=auth, fingerprint=fingerprint, failures=failures)
    print(
        f"\nRELIABILITY schemathesis: {FIGURES['cases']} cases over "
        f"{FIGURES['operations']} operations ({FIGURES['refused']} refused), "
        f"{len(failures)} failures"
    )
    assert FIGURES["operations"] > 40
    assert not failures, "\n".join(f"{op}: {example}" for op, example in failures.items())


# --- hostile JSON values in every field of every JSON body ------------------------------------
# Schemathesis writes its bodies with json.dumps: never a lone surrogate, a repeated key, NaN or
# a nesting depth of its choosing. These bodies are written as text, field by field.

HOSTILE_VALUES = [
    '"\\ud800"', '"a\\u0000b"', '"' + "x" * 5000 + '"', "1" + "0" * 40, "-1", "1e999999",
    "0.1", "NaN", "-Infinity", "true", "null", "[]", "{}", "[" * 40 + "]" * 40,
    '{"a": 1, "a": 2}', '"9999-12-31T23:59:59+18:00"', '"\\ud83d\\ude00"', '""', "1" * 5000,
]  # fmt: skip
# Posted to every field at once, once each, before the random bodies.
WORST_VALUES = ['"\\udfff"', "[" * 40 + "]" * 40, '{"a": 1, "a": 2}', "1" + "0" * 40]
HOSTILE_EXAMPLES = 6


def _sane(schema: dict) -> str:
    if "enum" in schema:
        return json.dumps(schema["enum"][0])
    kind = schema.get("type")
    if schema.get("format") == "date-time":
        return '"2026-11-25T10:00:00Z"'
    return {"integer": "1", "number": "1", "boolean": "true", "array": "[]", "object": "{}"}.get(
        kind, '"x"'
    )


def json_operations(document: dict) -> list[tuple[str, str, dict[str, str]]]:
    """(method, path, {property: a sane JSON value}) of every operation taking a JSON body."""
    components = document["components"]["schemas"]
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            if "$ref" in schema:
                schema = components[schema["$ref"].rsplit("/", 1)[1]]
            properties = schema.get("properties", {})
            sane = {}
            for name, definition in properties.items():
                if "$ref" in definition:
                    definition = components[definition["$ref"].rsplit("/", 1)[1]]
                for part in definition.get("allOf", []) + definition.get("oneOf", []):
                    if "$ref" in part:
                        definition = components[part["$ref"].rsplit("/", 1)[1]]
                sane[name] = _sane(definition)
            found.append((method, path, sane or {"reason": '"x"'}))
    return found


def run_hostile(sane: dict[str, str], send) -> None:
    """HOSTILE_EXAMPLES bodies: the sane values with some fields replaced by hostile ones."""

    @given(
        st.dictionaries(st.sampled_from(sorted(sane)), st.sampled_from(HOSTILE_VALUES), min_size=1)
    )
    @settings(
        max_examples=HOSTILE_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def hostile(replaced):
        send(body_text(sane | replaced))

    hostile()


def body_text(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"{json.dumps(name)}: {value}" for name, value in values.items()) + "}"


def test_hostile_json_values_in_every_body_field_are_refused_cleanly():
    """Every JSON field of every operation gets lone surrogates, NUL, huge numbers, NaN, deep and
    repeated-key values: no 5xx, and a refusal writes nothing."""
    staff = factories.UserFactory(is_superuser=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    world = make_world()
    fingerprint = Fingerprint()
    document = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    failures, posts = {}, 0

    def send(method: str, path: str, text: str) -> None:
        nonlocal posts
        posts += 1
        before = fingerprint.take()
        url = path.format(**real_path_parameters(path, world))
        response = client.generic(method.upper(), url, text.encode(), "application/json")
        if response.status_code >= 500:
            failures.setdefault(path, f"{text!r:.300} -> {response.status_code}")
        elif response.status_code >= 400:
            changed = Fingerprint.changed(before, fingerprint.take())
            if changed:
                failures.setdefault(path, f"{text!r:.300} -> {response.status_code}, {changed}")

    operations = json_operations(document)
    for method, path, sane in operations:
        for worst in WORST_VALUES:
            send(method, path, body_text(dict.fromkeys(sane, worst)))

        run_hostile(sane, partial(send, method, path))
    print(f"\nRELIABILITY hostile JSON values: {posts} bodies over {len(operations)} operations")
    assert len(operations) >= 20
    assert not failures, "\n".join(f"{path}: {example}" for path, example in failures.items())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        # Found by the fuzzer: values PostgreSQL refuses (DataError) were 500s.
        "/api/v1/transactions/?created_after=2637-05-16T10:41:36%2B16:02",
        "/api/v1/audit/?at_before=2000-01-01T00:00:00-17:30",
        "/api/v1/sessions/?idle_since=2001-01-01T00:00:00%2B18:00",
        "/api/v1/transactions/?external_id=a%00b",
        "/api/v1/players/?external_id=%00",
        "/api/v1/reconciliation/runs/?started_after=2637-05-16T10:41:36%2B16:02",
    ],
)
def test_values_postgresql_refuses_are_a_400_not_a_500(path):
    staff = factories.UserFactory(is_superuser=True)
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff)
    response = client.get(path)
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])


@pytest.mark.django_db
def test_nul_in_a_staff_api_body_is_a_400_not_a_500():
    staff = factories.UserFactory(is_superuser=True)
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff)
    response = client.post(
        "/api/v1/players/",
        {"external_id": "nul\x00id", "currency": "EUR", "country": "MT",
         "registration_ip": "10.0.0.1"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400, response.content[:300]
