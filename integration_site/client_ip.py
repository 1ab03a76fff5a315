"""
The one place that decides a caller's IP address. X-Forwarded-For is believed only when the
socket peer is a configured proxy (TRUSTED_PROXIES) or through a configured hop count
(TRUSTED_PROXY_COUNT); anything else would let a client claim any address it likes.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def ip_in_networks(address: str, cidrs: list[str] | tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in parse_networks(tuple(cidrs)))


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    proxies = tuple(settings.TRUSTED_PROXIES)
    hop_count = settings.TRUSTED_PROXY_COUNT
    if not forwarded or not (proxies or hop_count):
        return remote

    # Nearest hop last: the socket peer, then the addresses each proxy appended.
    chain = [hop.strip() for hop in forwarded.split(",") if hop.strip()] + [remote]
    if proxies:
        if not ip_in_networks(remote, proxies):
            return remote
        nearest_trusted = remote
        for hop in reversed(chain[:-1]):
            if not _valid_ip(hop):
                return nearest_trusted
            if not ip_in_networks(hop, proxies):
                return hop
            nearest_trusted = hop
        return nearest_trusted

    # A hop count: the nearest `hop_count` addresses are our proxies, the one before is the
    # client. A shorter chain means the request skipped a proxy: trust only what we saw.
    if len(chain) <= hop_count:
        return remote
    candidate = chain[-(hop_count + 1)]
    return candidate if _valid_ip(candidate) else remote
