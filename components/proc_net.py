"""The LISTEN sockets of a Linux host, read from /proc/net/tcp and /proc/net/tcp6 (no tool needed
on the host, nothing written): the doctor's listener check and the rollout order's "is this
broker down" both read them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from components.scripts import is_ip


@dataclass(frozen=True)
class Socket:
    address: str
    port: int
    uid: int


def _hex_address(text: str) -> str:
    """/proc/net/tcp's address: IPv4 as one little-endian word, IPv6 as four."""
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def listening_sockets(text: str) -> list[Socket]:
    """The LISTEN sockets (state 0A) of /proc/net/tcp and tcp6 lines."""
    out = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) < 8 or fields[3] != "0A" or ":" not in fields[1]:
            continue
        address, _, port = fields[1].partition(":")
        try:
            out.append(Socket(_hex_address(address), int(port, 16), int(fields[7])))
        except ValueError:
            continue
    return out


_ANY = {"", "0.0.0.0", "::"}


def listens(sockets: Sequence[Socket], host: str, port: int) -> list[Socket]:
    """The sockets that serve a listener ``host:port`` (a wildcard socket serves every address)."""
    host = host.removeprefix("[").removesuffix("]")
    on_port = [s for s in sockets if s.port == port]
    if host in _ANY or not is_ip(host):
        return on_port  # every interface, or a name this side does not resolve: by port
    want = str(ipaddress.ip_address(host))
    return [s for s in on_port if s.address in (want, "0.0.0.0", "::")]
