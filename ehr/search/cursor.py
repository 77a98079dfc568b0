"""The ``_cursor`` paging token: an opaque, url-safe encoding of a keyset boundary.

A token holds the sort key values and ``rid`` of the row a page starts after (forward)
or ends before (backward), plus the ``_sort`` it was made for. Unlike an offset it stays
correct while resources are created and deleted between page requests. It is not signed:
the values only ever reach SQL as bound parameters, so a forged token can do no more than
start a page somewhere else; anything malformed is an ``InvalidSearch``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from ehr.errors import InvalidSearch
from ehr.search.query_model import Cursor, SortKey

_VERSION = 1
_MAX_TOKEN = 8192

_KIND_OF_TYPE = {
    "string": str,
    "token": str,
    "uri": str,
    "date": int,
    "number": float,
    "quantity": float,
}


def key_kind(key: SortKey) -> type:
    """The Python type of ``key``'s sort values (str, int or float)."""
    if key.param.code == "_id":
        return str
    if key.param.code == "_lastUpdated":
        return int
    return _KIND_OF_TYPE[key.param.type]


def encode_cursor(
    signature: str, backward: bool, keys: tuple[str | int | float | None, ...], rid: int
) -> str:
    """The token for a boundary row under the sort ``signature``."""
    payload = [_VERSION, "p" if backward else "n", signature, list(keys), rid]
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, signature: str, sort: tuple[SortKey, ...]) -> Cursor:
    """The boundary in ``token``, checked against the query's sort; else ``InvalidSearch``."""
    payload = _payload(token)
    if (
        not isinstance(payload, list)
        or len(payload) != 5
        or payload[0] != _VERSION
        or payload[1] not in ("n", "p")
        or not isinstance(payload[3], list)
    ):
        raise _bad()
    _, direction, made_for, keys, rid = payload
    if made_for != signature:
        raise InvalidSearch("_cursor belongs to a different _sort; start from the first page")
    if not _is_bigint(rid) or len(keys) != len(sort):
        raise _bad()
    checked = tuple(_checked(value, key_kind(key)) for value, key in zip(keys, sort, strict=True))
    return Cursor(backward=direction == "p", keys=checked, rid=rid, token=token)


def _payload(token: str) -> object:
    if not token or len(token) > _MAX_TOKEN:
        raise _bad()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _bad() from exc


def _checked(value: object, kind: type) -> str | int | float | None:
    """``value`` if it is a sort value of ``kind`` (or None = missing), else ``InvalidSearch``."""
    if value is None:
        return None
    if kind is float and type(value) in (int, float):
        try:
            number = float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise _bad() from None
        if math.isfinite(number):
            return number
    elif kind is int and _is_bigint(value):
        return value  # type: ignore[return-value]
    elif kind is str and type(value) is str and _bindable(value):
        return value
    raise _bad()


def _bindable(text: str) -> bool:
    """Text every database accepts as a parameter: no NUL, no unpaired surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _is_bigint(value: object) -> bool:
    """An ``int`` (not ``bool``) that fits a BIGINT, so no driver refuses to bind it."""
    return type(value) is int and -(2**63) <= value < 2**63


def _bad() -> InvalidSearch:
    return InvalidSearch("_cursor is not a valid paging token", expression=("_cursor",))
