"""``ehr seed``: loads the registry, says what it did, and is honest about ``--demo``."""

from __future__ import annotations

import pytest

from ehr.cli import main
from ehr.config import get_settings


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EHR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EHR_DATABASE_URL", f"sqlite:///{tmp_path / 'ehr.db'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_seed_loads_then_writes_nothing_the_second_time(sqlite_env, capsys):
    assert main(["seed", "--province", "12", "--scale", "0.2"]) == 0
    first = capsys.readouterr().out
    assert "Organization" in first and " 0 written" not in first
    assert main(["seed", "--province", "12", "--scale", "0.2", "--demo"]) == 0
    second = capsys.readouterr()
    assert ", 0 written" in second.out
    assert "later issue" in second.err


def test_seed_refuses_an_unknown_province(sqlite_env, capsys):
    assert main(["seed", "--province", "99"]) == 2
    assert "unknown province codes: 99" in capsys.readouterr().err
