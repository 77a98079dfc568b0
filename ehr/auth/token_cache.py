"""A bounded memory of access tokens already verified, so a client's next request skips ECDSA.

A client sends the same bearer token with every request until it expires; checking its
signature costs about 0.2 ms of CPU, as much as serving a read. What is remembered is the
outcome of a *successful* verification, keyed by the SHA-256 of the token (never the
token itself): the claims and how they were checked. A hit checks those claims again
against the clock (``exp``, ``iat``, ``nbf`` with the usual leeway, and issuer and
audience), so a remembered token stops working the moment it expires, exactly as an
unremembered one would. Failures are never remembered. The least recently used entry
goes when the memory is full.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ehr.auth.principal import Principal
from ehr.auth.tokens import CLOCK_SKEW_S, check_claims


@dataclass(frozen=True)
class Verified:
    """A verified token: its caller, and the claims and rules it was verified with."""

    principal: Principal
    claims: dict[str, Any]
    issuer: str
    audiences: tuple[str, ...]
    required: tuple[str, ...]

    def check_still_valid(self) -> None:
        """``InvalidToken`` if the token is no longer acceptable now (expired, mostly)."""
        check_claims(
            self.claims,
            issuer=self.issuer,
            audiences=self.audiences,
            required=self.required,
            leeway=CLOCK_SKEW_S,
        )


class TokenCache:
    """Verified tokens by SHA-256, least recently used first out; safe across threads."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[bytes, Verified] = OrderedDict()
        self._lock = threading.Lock()

    def principal(self, token: str, verify: Callable[[str], Verified]) -> Principal:
        """The caller of ``token``: remembered and still valid, or ``verify``'d now."""
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            known = self._entries.get(key)
            if known is not None:
                self._entries.move_to_end(key)
        if known is not None:
            try:
                known.check_still_valid()
            except Exception:
                self._forget(key)
                raise
            return known.principal
        verified = verify(token)
        if self.capacity > 0:
            with self._lock:
                self._entries[key] = verified
                self._entries.move_to_end(key)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return verified.principal

    def _forget(self, key: bytes) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
