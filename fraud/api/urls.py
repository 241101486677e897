from django.urls import path

from fraud.api import rules_views, views
from wallets.api.urls import ContractRouter

router = ContractRouter()
router.register("holds", views.HoldViewSet, basename="hold")
router.register("cases", views.CaseViewSet, basename="case")
router.register("snoozes", views.SnoozeViewSet, basename="snooze")
router.register("fraud/rules", rules_views.RuleViewSet, basename="fraud-rule")
router.register("fraud/versions", rules_views.RuleVersionViewSet, basename="fraud-version")
router.register("fraud/backtests", rules_views.BacktestViewSet, basename="fraud-backtest")
router.register("fraud/lists", rules_views.FraudListViewSet, basename="fraud-list")
router.register("fraud/list-entries", rules_views.ListEntryViewSet, basename="fraud-list-entry")

urlpatterns = [
    path(
        "fraud/shadow-comparison",
        rules_views.ShadowComparisonView.as_view(),
        name="fraud-shadow-comparison",
    ),
    *router.urls,
]
