"""``ehr token`` prints tokens that ``AuthService.authenticate`` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ehr.auth.service import AuthService
from ehr.cli import main
from ehr.config import Settings, get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EHR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["token", *args])
    out, err = capsys.readouterr()
    return code, out.strip(), err


@pytest.mark.parametrize(
    "args, role, scopes, facility, cccd",
    [
        (
            ["--role", "facility", "--facility", "01001"],
            "facility",
            ("system/*.cruds",),
            "01001",
            None,
        ),
        (
            ["--role", "ministry"],
            "ministry",
            (
                "system/Measure.rs",
                "system/MeasureReport.rs",
                "system/Organization.rs",
                "system/Location.rs",
            ),
            None,
            None,
        ),
        (
            ["--role", "patient", "--cccd", "001090012345"],
            "patient",
            ("patient/*.rs",),
            None,
            "001090012345",
        ),
        (["--role", "admin"], "admin", ("system/*.cruds",), None, None),
        (
            ["--role", "facility", "--facility", "01001", "--scope", "system/Encounter.read"],
            "facility",
            ("system/Encounter.rs",),
            "01001",
            None,
        ),
    ],
)
def test_printed_tokens_authenticate(
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    role: str,
    scopes: tuple[str, ...],
    facility: str | None,
    cccd: str | None,
) -> None:
    code, token, _ = run(capsys, *args)
    assert code == 0
    principal = AuthService.from_settings(Settings(data_dir=data_dir)).authenticate(
        f"Bearer {token}"
    )
    assert (principal.role, principal.scopes, principal.facility, principal.cccd) == (
        role,
        scopes,
        facility,
        cccd,
    )


def test_lifetime_is_honoured(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, token, _ = run(capsys, "--role", "admin", "--lifetime", "3600")
    assert code == 0
    claims = AuthService.from_settings(Settings(data_dir=data_dir)).verify(token).claims
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "facility"],
        ["--role", "patient"],
        ["--role", "patient", "--cccd", "123"],
        ["--role", "admin", "--scope", "system/*.everything"],
        ["--role", "admin", "--lifetime", "0"],
    ],
)
def test_bad_arguments_exit_2_without_a_token(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and err.startswith("ehr token:")
