from fraud.api import views
from wallets.api.urls import ContractRouter

router = ContractRouter()
router.register("holds", views.HoldViewSet, basename="hold")
router.register("cases", views.CaseViewSet, basename="case")
router.register("snoozes", views.SnoozeViewSet, basename="snooze")

urlpatterns = router.urls
