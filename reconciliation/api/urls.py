from django.urls import path

from reconciliation.api import views
from wallets.api.urls import ContractRouter

router = ContractRouter()
router.register("reconciliation/runs", views.RunViewSet, basename="reconciliation-run")
router.register(
    "reconciliation/report-rows", views.ReportRowViewSet, basename="reconciliation-report-row"
)
router.register("discrepancies", views.DiscrepancyViewSet, basename="discrepancy")

urlpatterns = [
    path("reconciliation/reports", views.ReportUploadView.as_view(), name="reconciliation-report"),
    *router.urls,
]
