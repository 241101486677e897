"""The wallet's URLs through Django (the short way in, front.py, answers the same paths first):
the native API's operations, and every other protocol under /wallet/<protocol>/<code>/."""

from django.http import Http404
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from wallets.adapters.base import serve
from wallets.adapters.native import ADAPTER as NATIVE
from wallets.adapters.native import wallet_view
from wallets.adapters.registry import adapter_for

app_name = "wallet_api"


@csrf_exempt
def protocol_view(request, protocol: str, code: str, rest: str):
    adapter = adapter_for(protocol)
    if adapter is None or adapter is NATIVE:
        raise Http404("no such wallet protocol")
    return serve(adapter, request, rest, code).as_django()


urlpatterns = [
    *(path(f"v1/{operation}", wallet_view(operation)) for operation in NATIVE.operations),
    path("<slug:protocol>/<str:code>/<path:rest>", protocol_view, name="protocol"),
]
