from compliance.api import views
from wallets.api.urls import ContractRouter

router = ContractRouter()
router.register("compliance/violations", views.SecurityViolationViewSet, basename="violation")
router.register("compliance/policies", views.SecurityPolicyViewSet, basename="security-policy")

urlpatterns = router.urls
