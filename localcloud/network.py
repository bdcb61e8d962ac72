"""The local cloud's addresses, in one place: the `odl-cloud` bridge (droplets' public IPv4s and the gateway
where the host's services listen), the `odl-metadata` network, the reserved-IP pool on loopback, and the
ports of the API, the registry and Spaces.

`Network()` is the standard layout every part agrees on (droplets reach the host's services at the same
addresses the host uses); it is made once by `localcloud.control` (or a test) and passed to whoever needs an
address. Pure values and functions only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Network:
    cloud_net: str = "odl-cloud"
    cloud_subnet: str = "10.213.0.0/24"
    gateway: str = "10.213.0.1"  # the host on odl-cloud: the API, the registry and Spaces listen here
    cloud_dynamic_range: str = "10.213.0.224/27"  # for anything else attached to odl-cloud; droplets are static
    metadata_net: str = "odl-metadata"
    metadata_subnet: str = "169.254.169.0/24"
    metadata_gateway: str = "169.254.169.1"
    metadata_dynamic_range: str = "169.254.169.224/28"
    metadata_ip: str = "169.254.169.254"
    host_min: int = 10  # droplet host numbers N: 10.213.0.N on odl-cloud and 169.254.169.N on odl-metadata
    host_max: int = 200
    loopback: str = LOOPBACK
    # Reserved IPs are 127.0.0.N with N in this range (a second API in tests keeps clear of `local up`'s).
    reserved_first: int = 100
    reserved_last: int = 254
    api_port: int = 8443
    registry_port: int = 5000
    spaces_port: int = 9000
    spaces_backend_port: int = 19000  # moto's private loopback port behind the Spaces fronts

    # ------------------------------------------------------------------ droplet addresses

    def cloud_address(self, host: int) -> str:
        """A droplet's public IPv4 on odl-cloud."""
        return str(ipaddress.ip_network(self.cloud_subnet)[host])

    def metadata_address(self, host: int) -> str:
        """A droplet's address on odl-metadata (the metadata service knows a droplet by it)."""
        return str(ipaddress.ip_network(self.metadata_subnet)[host])

    @property
    def reserved_range(self) -> tuple[int, int]:
        return self.reserved_first, self.reserved_last

    # ------------------------------------------------------------------ services

    @property
    def registry(self) -> str:
        """The registry as droplets (and the host) name it: gateway:port."""
        return f"{self.gateway}:{self.registry_port}"

    @property
    def loopback_registry(self) -> str:
        """The same registry through loopback (usable before the odl-cloud bridge exists)."""
        return f"{self.loopback}:{self.registry_port}"

    @property
    def spaces_endpoint(self) -> str:
        return f"http://{self.gateway}:{self.spaces_port}"

    @property
    def loopback_spaces_endpoint(self) -> str:
        return f"http://{self.loopback}:{self.spaces_port}"

    @property
    def server_ips(self) -> tuple[str, ...]:
        """The addresses the API's TLS certificate is valid for."""
        return self.gateway, self.loopback


NETWORK = Network()
