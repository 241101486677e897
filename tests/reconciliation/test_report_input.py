"""What a provider report may hold and how it is read: JSON amounts exactly (never through a
float), JSON rows that strictjson refuses (a repeated key, NaN, a lone surrogate, nesting too
deep) kept as malformed rows without losing the rows after them, any nesting depth answered
without a 500, and a CSV header that names a column twice refused naming it; over the API, in
the admin and in the parser."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reconciliation import parsing
from reconciliation.models import ProviderReport, ReconciliationRun, ReportRow
from tests import factories
from tests.reconciliation.helpers import HEADER, csv_bytes, row
from wallets.errors import ValidationFailed

pytestmark = pytest.mark.django_db
URL = "/api/v1/reconciliation/reports"
T = "2026-11-25T10:00:00+00:00"


def _row_text(txn: str, amount: str = '"1.00"') -> str:
    return (
        f'{{"transaction_id": "{txn}", "player": "p1", "kind": "bet", "amount": {amount}, '
        f'"currency": "EUR", "status": "posted", "time": "{T}"}}'
    )


@pytest.fixture
def integrator():
    user = factories.UserFactory(groups=["integrator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def upload(client, provider, name: str, data: bytes):
    return client.post(
        URL,
        {"provider": provider.code, "file": SimpleUploadedFile(name, data)},
        format="multipart",
    )


def staged_rows():
    return list(
        ReportRow.objects.order_by("line_no").values_list("line_no", "amount_minor", "error")
    )


# --- JSON numbers are exact -----------------------------------------------------------------

# Each of these is off by one minor unit when read through a binary float and truncated.
EXACT = [("0.29", 29), ("1.1", 110), ("4.35", 435), ("1e1", 1000), ("0.5E1", 500), ("7", 700)]


def test_json_body_rows_with_number_amounts_are_read_exactly(integrator, provider):
    rows = ", ".join(_row_text(f"t{i}", amount) for i, (amount, _) in enumerate(EXACT))
    body = f'{{"provider": "{provider.code}", "rows": [{rows}]}}'
    response = integrator.post(URL, data=body.encode(), content_type="application/json")
    assert response.status_code == 201, response.content
    assert [minor for _, minor, _ in staged_rows()] == [minor for _, minor in EXACT]


@pytest.mark.parametrize("name", ["r.json", "r.jsonl"])
def test_json_file_rows_with_number_amounts_are_read_exactly(integrator, provider, name):
    texts = [_row_text(f"t{i}", amount) for i, (amount, _) in enumerate(EXACT)]
    data = ("[" + ",".join(texts) + "]") if name == "r.json" else "\n".join(texts)
    response = upload(integrator, provider, name, data.encode())
    assert response.status_code == 201, response.content
    assert [minor for _, minor, _ in staged_rows()] == [minor for _, minor in EXACT]


# --- refused JSON rows are malformed rows; the rows after them are read -----------------------

REFUSED_ROWS = [
    ('{"transaction_id": "a", "transaction_id": "b"}', 'duplicate key "transaction_id"'),
    (_row_text("n", "NaN"), "NaN is not a number"),
    (_row_text("s\\ud800"), "lone surrogate"),
    ('{"x": ' + "[" * 40 + "]" * 40 + "}", "nested deeper than 32 levels"),
]


@pytest.mark.parametrize(("bad", "reason"), REFUSED_ROWS)
@pytest.mark.parametrize("name", ["r.json", "r.jsonl"])
def test_a_refused_json_row_is_malformed_and_the_next_rows_are_read(
    integrator, provider, name, bad, reason
):
    texts = [_row_text("t1"), bad, _row_text("t3")]
    data = ("[" + ",\n".join(texts) + "]") if name == "r.json" else "\n".join(texts)
    response = upload(integrator, provider, name, data.encode())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rows_total"] == 3 and body["counts"]["malformed"] == 1
    (line_1, _, error_1), (line_2, _, error_2), (line_3, minor_3, error_3) = staged_rows()
    assert (line_1, error_1, line_3, minor_3, error_3) == (1, "", 3, 100, "")
    assert line_2 == 2 and reason in error_2


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("r.json", b"[" * 200_000 + b"]" * 200_000),
        ("r.json", b"[" + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"]"),
        ("r.json", b"[" * 200_000),
        ("r.jsonl", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"\n" + _row_text("t2").encode()),
    ],
)
def test_any_nesting_depth_in_a_report_file_is_answered_without_a_500(
    integrator, provider, name, data
):
    response = upload(integrator, provider, name, data)
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 201:
        assert response.json()["counts"]["malformed"] >= 1


def test_a_deeply_nested_json_body_is_a_400_and_stores_nothing(integrator, provider):
    for rows in ("[" * 100_000 + "]" * 100_000, "[" + '{"a": ' * 40 + "1" + "}" * 40 + "]"):
        body = f'{{"provider": "{provider.code}", "rows": {rows}}}'
        response = integrator.post(URL, data=body.encode(), content_type="application/json")
        assert response.status_code == 400, response.content[:300]
        assert "nested deeper than 32 levels" in response.json()["message"]
    assert not ProviderReport.objects.exists() and not ReconciliationRun.objects.exists()


# --- CSV: a column named twice ----------------------------------------------------------------


def test_the_csv_parser_refuses_a_header_naming_a_column_twice():
    for header in ("transaction_id,player,kind,amount,Amount ,currency,status,time",
                   "transaction_id,player,kind,amount,currency,status,time,note,note"):  # fmt: skip
        with pytest.raises(ValidationFailed) as refused:
            parsing.iter_csv(io.BytesIO(header.encode() + b"\n"))
        assert refused.value.field == "file"
        assert "names a column more than once" in refused.value.message
        assert ('"amount"' if "Amount" in header else '"note"') in refused.value.message
    # Empty names (trailing commas) are no columns.
    header = ",".join(HEADER) + ",,\n"
    row_line = f"t1,r1,p1,bet,1.00,EUR,posted,{T},,\n"
    (staged,) = parsing.iter_csv(io.BytesIO((header + row_line).encode()))
    assert (staged.transaction_id, staged.amount_minor, staged.error) == ("t1", 100, None)


def test_a_csv_report_with_a_repeated_column_is_a_400_naming_it(integrator, provider):
    player = factories.funded_player(0)
    data = csv_bytes([row("b1", player)], header=[*HEADER, "amount"])
    response = upload(integrator, provider, "r.csv", data)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("VALIDATION_ERROR", "file")
    assert 'names a column more than once: "amount"' in body["message"]
    assert not ProviderReport.objects.exists() and not ReconciliationRun.objects.exists()


def test_the_admin_upload_refuses_a_repeated_column_naming_it(provider):
    user = factories.UserFactory(is_superuser=True)
    client = Client()
    client.force_login(user)
    data = csv_bytes([row("b1", "p1")], header=[*HEADER, "status"])
    response = client.post(
        "/admin/reconciliation/providerreport/add/",
        {"provider": provider.pk, "file": SimpleUploadedFile("r.csv", data), "format": ""},
    )
    assert response.status_code == 200
    assert "names a column more than once: &quot;status&quot;" in response.content.decode()
    assert not ProviderReport.objects.exists()


def test_json_helpers_still_write_plain_rows():
    # The fixtures' own JSON (json.dumps of rows with string amounts) reads as before.
    staged = list(parsing.iter_json(io.BytesIO(json.dumps([row("t1", "p1")]).encode())))
    assert [r.error for r in staged] == [None]
