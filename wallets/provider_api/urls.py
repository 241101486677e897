from django.urls import path

from wallets.provider_api.views import OPERATIONS, wallet_view

app_name = "wallet_api"

urlpatterns = [path(operation, wallet_view(operation)) for operation in OPERATIONS]
