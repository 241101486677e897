from monitoring.api import views
from wallets.api.urls import ContractRouter

router = ContractRouter()
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = router.urls
