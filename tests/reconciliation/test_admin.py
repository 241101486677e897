"""Admin pages of reconciliation: upload a report, read runs and rows, bulk explain-and-close."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from reconciliation.models import Discrepancy, ProviderReport
from tests import factories
from tests.reconciliation.helpers import age_ledger, csv_bytes, play, reconcile_rows, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for():
    def make(*groups, superuser=False):
        user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
        client = Client()
        client.force_login(user)
        return client

    return make


def test_upload_a_report_in_the_admin(provider, admin_client_for):
    player = factories.funded_player(10_00)
    play(provider, player, bets=[("b1", 1_00)])
    age_ledger(3600)
    client = admin_client_for(superuser=True)
    assert client.get("/admin/reconciliation/providerreport/add/").status_code == 200
    data = csv_bytes([row("b1", player, amount="1.00"), row("x1", player, amount="zz")])
    response = client.post(
        "/admin/reconciliation/providerreport/add/",
        {"provider": provider.pk, "file": SimpleUploadedFile("r.csv", data), "format": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    report = ProviderReport.objects.get()
    assert (report.rows_total, report.rows_malformed) == (2, 1)
    assert report.run.counts["matched"] == 1
    page = client.get(f"/admin/reconciliation/providerreport/{report.pk}/change/")
    assert page.status_code == 200
    rows = client.get(f"/admin/reconciliation/reportrow/?report__id__exact={report.pk}")
    assert rows.status_code == 200
    assert "amount:" in rows.content.decode()
    assert client.get("/admin/reconciliation/reconciliationrun/").status_code == 200


def test_bulk_explain_and_close(provider, admin_client_for):
    player = factories.funded_player(10_00)
    reconcile_rows(provider, [row("x1", player), row("x2", player)])
    ids = [str(pk) for pk in Discrepancy.objects.values_list("pk", flat=True)]
    client = admin_client_for("back_office")
    url = "/admin/reconciliation/discrepancy/"
    assert client.get(url, {"status__exact": "open"}).status_code == 200
    response = client.post(
        url,
        {
            "action": "explain_and_close",
            ACTION_CHECKBOX_NAME: ids,
            "apply": "1",
            "reason": "provider's test accounts",
        },
    )
    assert response.status_code == 302
    assert set(Discrepancy.objects.values_list("status", "resolution_note")) == {
        ("closed", "provider's test accounts")
    }
