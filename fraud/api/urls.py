from fraud.api import views
from wallets.api.urls import ContractRouter

router = ContractRouter()
router.register("holds", views.HoldViewSet, basename="hold")

urlpatterns = router.urls
