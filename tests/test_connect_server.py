"""The Spark Connect pass's local server listens on 127.0.0.1 only, on a free port."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.connect

# Local addresses as /proc/net/tcp{,6} writes them (hex, 32-bit words in host order).
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
EVERY_INTERFACE = {"00000000", "0" * 32}
TCP_LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (from /proc/net)."""
    addresses: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            host, local_port = fields[1].split(":")
            if fields[3] == TCP_LISTEN and int(local_port, 16) == port:
                addresses.add(host)
    return addresses


def test_local_connect_server_listens_on_loopback_only(
    spark: object, local_connect_server: object | None
) -> None:
    if local_connect_server is None:
        pytest.skip("the Connect pass runs against a remote server")
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    assert spark.range(3).count() == 3  # type: ignore[attr-defined]
    conf = local_connect_server.conf  # type: ignore[attr-defined]
    port = int(conf.get("spark.connect.grpc.binding.port"))
    assert port != 15002
    addresses = listening_addresses(port)
    assert addresses, f"nothing listens on port {port}"
    assert addresses <= LOOPBACK, f"port {port} listens on {addresses}, not loopback only"
    assert not addresses & EVERY_INTERFACE
