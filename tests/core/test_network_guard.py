"""The unit tests cannot reach the network: only loopback connections are allowed."""

from __future__ import annotations

import _socket
import socket

import pytest
from pytest_socket import SocketConnectBlockedError


def test_guard_is_installed() -> None:
    # Checked first, so that the test below can never send a packet when the guard is missing.
    assert socket.socket.connect is not _socket.socket.connect


@pytest.mark.parametrize(
    "address",
    [("192.0.2.1", 80), ("10.0.0.1", 443), ("8.8.8.8", 53)],
    ids=["test-net", "private", "public"],
)
def test_non_loopback_connect_fails(address: tuple[str, int]) -> None:
    test_guard_is_installed()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(SocketConnectBlockedError),
    ):
        sock.connect(address)


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            conn, _ = server.accept()
            conn.close()
