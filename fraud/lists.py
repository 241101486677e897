"""Lists of values the list rules act on: what a valid entry is (one normaliser for the admin
form and the API), and the in-process snapshot the screener matches calls against.

Kinds: IP addresses and ranges (stored as CIDR networks: 203.0.113.7 becomes 203.0.113.7/32),
countries (ISO 3166-1 alpha-2, in capitals), payment fingerprints (the gateway's token: letters,
digits, `-`, `_`, `:` and `.`, at most 128 characters) and player ids (a whole number naming a
player that exists).
"""

import ipaddress
import threading
import time
from dataclasses import dataclass, field

from fraud.choices import ListKind, ListPurpose
from wallets.validators import (
    PAYMENT_FINGERPRINT_CHARACTERS,
    PAYMENT_FINGERPRINT_MAX,
    payment_fingerprint_problem,
)

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()
)


def _shown(value: object) -> str:
    return str(value)[:64].encode("utf-8", "backslashreplace").decode("utf-8")


def normalise_value(kind: str, value: object) -> str:
    """The stored form of `value` on a list of `kind`; ValueError saying what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a value is required")
    text = value.strip()
    if kind == ListKind.IP:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(
                    f'"{_shown(text)}" is not an IP address or CIDR range '
                    "(e.g. 203.0.113.7 or 10.0.0.0/8)"
                ) from None
            raise ValueError(
                f'"{_shown(text)}" has host bits set: write the range as '
                f"{ipaddress.ip_network(text, strict=False)}"
            ) from None
        return str(network)
    if kind == ListKind.COUNTRY:
        code = text.upper()
        if code not in COUNTRIES:
            raise ValueError(
                f'"{_shown(text)}" is not a country: an ISO 3166-1 alpha-2 code such as DE or MT'
            )
        return code
    if kind == ListKind.PAYMENT_FINGERPRINT:
        # The payment API's rule (wallets.validators): what a payment can carry, a list holds.
        if payment_fingerprint_problem(text):
            raise ValueError(
                f"a payment fingerprint is 1 to {PAYMENT_FINGERPRINT_MAX} "
                f"{PAYMENT_FINGERPRINT_CHARACTERS}"
            )
        return text
    if kind == ListKind.PLAYER:
        from wallets.models import Player

        if not text.isdigit() or not Player.objects.filter(pk=int(text)).exists():
            raise ValueError(f'"{_shown(text)}" is not the id of a player')
        return str(int(text))
    raise ValueError(f"unknown list kind {kind!r}")


# --- the screener's snapshot ----------------------------------------------------------------

LIST_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ListSnapshot:
    """Every enabled list's entries by purpose, as the screener matches them (no query)."""

    # purpose -> IP version -> prefix length -> {network address as int: (CIDR text, list)}: a
    # lookup costs one set probe per prefix length in use, whatever the number of entries.
    networks: dict[str, dict[int, dict[int, dict[int, tuple[str, str]]]]] = field(
        default_factory=dict
    )
    countries: dict[str, dict[str, str]] = field(default_factory=dict)  # purpose -> code: list
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    players: dict[str, dict[int, str]] = field(default_factory=dict)

    def has(self, purpose: str) -> bool:
        return any(
            getattr(self, name).get(purpose)
            for name in ("networks", "countries", "fingerprints", "players")
        )

    def needs_country(self) -> bool:
        return any(self.countries.values())

    def matches(
        self,
        purpose: str,
        *,
        player_id: int | None = None,
        ip: str | None = None,
        country: str | None = None,
        fingerprint: str | None = None,
    ) -> list[dict]:
        """The entries of `purpose` lists that the call's values are on."""
        found = []
        if player_id is not None and player_id in self.players.get(purpose, {}):
            found.append(
                {
                    "kind": "player",
                    "value": str(player_id),
                    "list": self.players[purpose][player_id],
                }
            )
        if ip and self.networks.get(purpose):
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                address = None
            by_length = self.networks[purpose].get(address.version, {}) if address else {}
            bits = address.max_prefixlen if address else 0
            for length, networks in by_length.items():
                shift = bits - length
                match = networks.get((int(address) >> shift) << shift)
                if match is not None:
                    found.append({"kind": "ip", "value": match[0], "list": match[1]})
                    break
        if country and country in self.countries.get(purpose, {}):
            found.append(
                {"kind": "country", "value": country, "list": self.countries[purpose][country]}
            )
        if fingerprint and fingerprint in self.fingerprints.get(purpose, {}):
            found.append(
                {
                    "kind": "payment_fingerprint",
                    "value": fingerprint,
                    "list": self.fingerprints[purpose][fingerprint],
                }
            )
        return found


_lock = threading.Lock()
_cache: dict = {"snapshot": None, "loaded_at": 0.0}


def invalidate_list_cache(**kwargs) -> None:
    """Drop the cached lists (connected to list and entry saves and deletes)."""
    _cache["snapshot"] = None
    _cache["loaded_at"] = 0.0


def snapshot() -> ListSnapshot:
    """The enabled lists, cached in the process for LIST_CACHE_SECONDS (at once after a change
    made in this process). One query on a reload."""
    cached = _cache["snapshot"]
    if cached is not None and time.monotonic() - _cache["loaded_at"] < LIST_CACHE_SECONDS:
        return cached
    with _lock:
        from django.db.models import Q
        from django.utils import timezone

        from fraud.models import ListEntry

        networks: dict[str, dict] = {}
        countries: dict[str, dict] = {}
        fingerprints: dict[str, dict] = {}
        players: dict[str, dict] = {}
        rows = (
            ListEntry.objects.filter(list__enabled=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
            .values_list("list__kind", "list__purpose", "list__name", "value")
        )
        for kind, purpose, name, value in rows:
            if kind == ListKind.IP:
                network = ipaddress.ip_network(value)
                by_length = networks.setdefault(purpose, {}).setdefault(network.version, {})
                by_length.setdefault(network.prefixlen, {})[int(network.network_address)] = (
                    value,
                    name,
                )
            elif kind == ListKind.COUNTRY:
                countries.setdefault(purpose, {})[value] = name
            elif kind == ListKind.PAYMENT_FINGERPRINT:
                fingerprints.setdefault(purpose, {})[value] = name
            elif kind == ListKind.PLAYER:
                players.setdefault(purpose, {})[int(value)] = name
        loaded = ListSnapshot(
            networks=networks,
            countries=countries,
            fingerprints=fingerprints,
            players=players,
        )
        _cache["snapshot"] = loaded
        _cache["loaded_at"] = time.monotonic()
        return loaded


TRUST = ListPurpose.TRUST
