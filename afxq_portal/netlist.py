"""Allow-list entries of the form NETWORK[:PORTS], parsed once when the settings load.

    127.0.0.1/32            every port of the network (as before ports could be named)
    127.0.0.1/32:8080       only port 8080
    10.1.0.0/16:80|443      ports 80 and 443 ("|", since the setting itself is a comma list)
    10.1.2.3:8000-8099      a range of ports; a bare address is a /32 (IPv4) or /128 (IPv6)
    ::1/128                 IPv6 without ports
    [::1]/128:8080|8443     IPv6 with ports: the address in brackets
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_BRACKETED = re.compile(r"^\[(?P<address>[^\]]+)\](?P<prefix>/\d+)?(?::(?P<ports>.*))?$")


@dataclass(frozen=True)
class AllowedNetwork:
    network: Network
    ports: frozenset[int] | None  # None: every port

    def allows(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int | None) -> bool:
        return address in self.network and (self.ports is None or port in self.ports)

    def __str__(self) -> str:
        if self.ports is None:
            return str(self.network)
        return f"{self.network} (ports {', '.join(str(p) for p in sorted(self.ports))})"


def _ports(text: str) -> frozenset[int]:
    ports: set[int] = set()
    for part in text.split("|"):
        part = part.strip()
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"port {part!r} is not a number or a range such as 8000-8099")
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"port {part!r} is outside 1-65535 (or its range is reversed)")
        ports.update(range(first, last + 1))
    return frozenset(ports)


def parse_entry(entry: str) -> AllowedNetwork:
    """One entry; ValueError saying what is wrong with it."""
    entry = entry.strip()
    bracketed = _BRACKETED.match(entry)
    if bracketed:
        network, ports = bracketed["address"] + (bracketed["prefix"] or ""), bracketed["ports"]
        if ports == "":
            raise ValueError("':' after the brackets must be followed by ports")
    elif entry.count(":") == 1:  # an IPv4 network and its ports (IPv6 has two colons or more)
        network, ports = entry.split(":")
    else:
        network, ports = entry, None
    try:
        parsed = ipaddress.ip_network(network.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"{network.strip()!r} is not a network such as 10.0.0.0/8 or fd00::/8 ({exc})") from exc
    return AllowedNetwork(parsed, None if ports is None else _ports(ports))


def parse_allowed_networks(name: str, entries: Iterable[str]) -> list[AllowedNetwork]:
    """Every entry of the setting ``name``, or ImproperlyConfigured naming the setting, the entry and why."""
    parsed = []
    for entry in entries:
        if not entry.strip():
            continue
        try:
            parsed.append(parse_entry(entry))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name}: entry {entry.strip()!r} is not NETWORK or NETWORK:PORTS "
                f"(such as 127.0.0.1/32:8080|8443 or [::1]/128:8080): {exc}") from exc
    return parsed
