"""The national ID as the exchange keeps it: a keyed hash for lookup, a mask for people.

PRODUCT.md section 3: the national ID is stored for lookup as an HMAC under a secret key and
never appears in logs. A plain hash would not do: there are only about 10^10 plausible CCCD
numbers (63 prefixes x 2 sexes x ~100 birth years x 10^6 serials), so anyone holding
a database dump could hash them all in hours. With a key that lives outside the database,
the hashes are useless without it, yet equal numbers still give equal hashes, which is all
the deterministic link (same CCCD, same person) needs.

The key is a file (``load_or_create_secret``) made once on first use; losing or rotating it
orphans every stored hash, so treat it like the signing keys: back it up, never regenerate.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

SECRET_BYTES = 32
"""RFC 2104 discourages HMAC keys shorter than the hash output (32 bytes for SHA-256)."""
_KEEP_HEAD = 3
_KEEP_TAIL = 2


def normalise_national_id(number: str) -> str:
    """The form that is hashed: surrounding whitespace removed, nothing else changed.

    Keep this in step with ``ehr.mpi.cccd.parse_cccd``, which accepts exactly that much
    slack: if the two disagreed, one person's number could hash two ways and split them.
    """
    return number.strip()


def national_id_hmac(secret: bytes, number: str) -> str:
    """HMAC-SHA256 (hex) of the normalised ``number`` under ``secret``: the lookup key."""
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"the MPI secret must be at least {SECRET_BYTES} bytes")
    normalised = normalise_national_id(number)
    if not normalised:
        raise ValueError("cannot hash an empty national ID")
    return hmac.new(secret, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def mask(number: str) -> str:
    """``079301000123`` -> ``079*******23``: enough to tell numbers apart on a review screen.

    The first three characters are the birth-province prefix (shared by millions) and the
    last two are random, so what is left cannot identify anyone. Anything too short to keep
    both ends is masked entirely.
    """
    value = normalise_national_id(number)
    if len(value) <= _KEEP_HEAD + _KEEP_TAIL:
        return "*" * len(value)
    hidden = len(value) - _KEEP_HEAD - _KEEP_TAIL
    return value[:_KEEP_HEAD] + "*" * hidden + value[-_KEEP_TAIL:]


def load_or_create_secret(path: Path) -> bytes:
    """The MPI secret in ``path``, made (32 random bytes, mode 0600) the first time.

    Several workers may start at once, and if two each made their own key, numbers hashed
    by one would never be found by the other. So a new key is written to a private temp file
    and hard-linked into place, which fails if the file already exists: exactly one key
    wins and every worker reads that one. The file content is the key, byte for byte, so an
    operator may also provision it (at least 32 bytes) from a secret store.
    """
    path = Path(path)
    if not path.exists():
        _create_secret(path)
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"the MPI secret in {path} is shorter than {SECRET_BYTES} bytes")
    return secret


def _create_secret(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(secrets.token_bytes(SECRET_BYTES))
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(temp_name, path)
    finally:
        os.unlink(temp_name)
