"""The national ID is stored only as a keyed hash and shown only masked."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehr.mpi.national_id_hash import (
    SECRET_BYTES,
    load_or_create_secret,
    mask,
    national_id_hmac,
)

SECRET = bytes(range(32))


def test_hmac_is_sha256_of_the_normalised_number_under_the_key():
    expected = hmac.new(SECRET, b"001090012345", hashlib.sha256).hexdigest()
    assert national_id_hmac(SECRET, "001090012345") == expected
    assert national_id_hmac(SECRET, " 001090012345\n") == expected


def test_the_hash_depends_on_the_key_so_a_dump_cannot_be_brute_forced_without_it():
    other = bytes(reversed(SECRET))
    assert national_id_hmac(SECRET, "001090012345") != national_id_hmac(other, "001090012345")
    assert national_id_hmac(SECRET, "001090012345") != hashlib.sha256(b"001090012345").hexdigest()


def test_short_keys_and_empty_numbers_are_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        national_id_hmac(b"short", "001090012345")
    with pytest.raises(ValueError, match="empty"):
        national_id_hmac(SECRET, "   ")


def test_mask_keeps_the_prefix_and_last_two_digits():
    assert mask("079301000101") == "079*******01"
    assert mask("001090012345") == "001*******45"
    assert mask("024123456") == "024****56"
    assert mask("12345") == "*****"


def test_secret_is_created_once_with_mode_0600_and_read_back(tmp_path: Path):
    path = tmp_path / "keys" / "mpi.secret"
    first = load_or_create_secret(path)
    assert len(first) == SECRET_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["mpi.secret"]  # no temp file left


def test_an_operator_provisioned_secret_is_used_as_is(tmp_path: Path):
    path = tmp_path / "mpi.secret"
    path.write_bytes(b"k" * 40)
    assert load_or_create_secret(path) == b"k" * 40


def test_a_truncated_secret_file_is_an_error_not_a_new_key(tmp_path: Path):
    path = tmp_path / "mpi.secret"
    path.write_bytes(b"too short")
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        load_or_create_secret(path)
    assert path.read_bytes() == b"too short"


def test_workers_starting_together_agree_on_one_secret(tmp_path: Path):
    """Two keys would split the index: numbers hashed by one worker unfindable by another."""
    path = tmp_path / "mpi.secret"
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        results.append(load_or_create_secret(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert os.listdir(tmp_path) == ["mpi.secret"]


@given(st.text(alphabet="0123456789", min_size=6, max_size=20))
def test_mask_never_reveals_the_middle(number):
    masked = mask(number)
    assert len(masked) == len(number)
    assert masked[3:-2] == "*" * (len(number) - 5)
    assert masked[:3] == number[:3] and masked[-2:] == number[-2:]
