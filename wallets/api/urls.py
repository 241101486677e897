from django.urls import path
from rest_framework.routers import DynamicRoute, SimpleRouter

from wallets.api import views


class ContractRouter(SimpleRouter):
    """Lists and details end in a slash (`/providers/`, `/providers/{code}/`); actions do not
    (`/providers/{code}/suspend`), as the back-office API contract writes them."""

    routes = [
        route._replace(url=route.url.replace("{trailing_slash}", ""))
        if isinstance(route, DynamicRoute)
        else route
        for route in SimpleRouter.routes
    ]


router = ContractRouter()
router.register("providers", views.ProviderViewSet, basename="provider")
router.register("players", views.PlayerViewSet, basename="player")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("transactions", views.TransactionViewSet, basename="transaction")
router.register("audit", views.AuditRecordViewSet, basename="audit")

urlpatterns = [
    path("payments/deposits", views.DepositView.as_view(), name="deposit"),
    path("payments/withdrawals", views.WithdrawalView.as_view(), name="withdrawal"),
    *router.urls,
]
