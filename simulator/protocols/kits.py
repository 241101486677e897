"""Each protocol's client and conformance kit, by protocol name."""

from simulator.protocols.base import ProtocolClient, ProtocolKit, Seat
from simulator.protocols.evolution import EvolutionClient, EvolutionKit
from simulator.protocols.hub88 import Hub88Client, Hub88Kit
from simulator.protocols.pragmatic import PragmaticClient, PragmaticKit
from simulator.protocols.softswiss import SoftSwissClient, SoftSwissKit

# protocol -> (client class, kit class); a client is built from (transport, provider code,
# the provider's signing credential: a private key PEM or a shared secret).
KITS = {
    "hub88": (Hub88Client, Hub88Kit),
    "pragmatic": (PragmaticClient, PragmaticKit),
    "evolution": (EvolutionClient, EvolutionKit),
    "softswiss": (SoftSwissClient, SoftSwissKit),
}


def client(protocol: str, transport, code: str, credential: str) -> ProtocolClient:
    return KITS[protocol][0](transport, code, credential)


def build(
    protocol: str, transport, code: str, credential: str, seats: list[Seat], **options
) -> ProtocolKit:
    client_class, kit_class = KITS[protocol]
    return kit_class(client_class(transport, code, credential), seats, **options)
