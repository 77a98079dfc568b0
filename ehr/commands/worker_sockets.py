"""One listening socket per worker process, the kernel spreading connections over them.

uvicorn's workers share the one socket its parent binds. When connections arrive together
(a client's pool opening, a load balancer reconnecting), whichever worker wakes first
accepts every one waiting, and a keep-alive connection stays with the worker that accepted
it: measured with 16 connections opened at once, splits of 16/0 and 14/2 were common, one
core then serving nearly everything while the other idled. With ``SO_REUSEPORT`` each
worker listens on a socket of its own bound to the same port, and the kernel hands each new
connection to one of them by a hash of its addresses, so every worker gets its share
whatever the timing (nginx's ``reuseport``).

uvicorn's supervisor passes the parent's sockets to its workers by pickling them: the
parent's socket here pickles as "bind a new socket like me", so each worker unpickles a
socket of its own. The parent's socket is bound (which reserves the port and fails at once
if it is taken) but never listens, so the kernel gives it no connections.
"""

from __future__ import annotations

import socket
from typing import Any


class PortSocket(socket.socket):
    """A bound ``SO_REUSEPORT`` socket that is rebound, not shared, in a worker process."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (bound_socket, (self.family, host, port))


def bound_socket(family: int, host: str, port: int) -> PortSocket:
    """A socket bound to ``host:port`` that others with ``SO_REUSEPORT`` may bind too."""
    sock = PortSocket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def port_socket(host: str, port: int) -> PortSocket:
    """The parent's socket for ``host:port`` (IPv6 if ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return bound_socket(family, host, port)
