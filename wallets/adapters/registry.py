"""The protocols by name (Provider.protocol), each its adapter."""

from wallets.adapters.base import Adapter
from wallets.adapters.evolution import EvolutionAdapter
from wallets.adapters.hub88 import Hub88Adapter
from wallets.adapters.native import ADAPTER as NATIVE
from wallets.adapters.pragmatic import PragmaticAdapter
from wallets.adapters.softswiss import SoftSwissAdapter

PROTOCOLS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        NATIVE,
        Hub88Adapter(),
        EvolutionAdapter(),
        PragmaticAdapter(),
        SoftSwissAdapter(),
    )
}


def adapter_for(name: str) -> Adapter | None:
    return PROTOCOLS.get(name)
