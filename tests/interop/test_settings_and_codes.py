"""Settings of the listeners, the site code table, and the FHIR server's refusal to listen off
loopback without a token (checked before anything binds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli.main import main
from monitor.interop.codes import CodesError, load_tables
from monitor.interop.settings import FhirSettings, Hl7Settings, is_loopback

SITE = """
[systems]
local = ["L", "99ZZZ"]

[[observation]]
system = "local"
code = "CK-TOTAL"
kind = "lab"
target = "ck"

[[observation]]
system = "mdc"
code = "150364"
kind = "vital"
target = "temperature"
site = "core"

[[unit]]
to = "U/L"
spellings = ["U/litre"]
for = ["ck"]

[[route]]
route = "im"
spellings = ["I.M."]
"""


def test_a_site_file_extends_and_overrides_the_bundled_tables(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    tables = load_tables(str(path))
    ck = tables.observation("99ZZZ", "CK-TOTAL")
    assert ck is not None and (ck.kind, ck.code) == ("lab", "ck")
    body = tables.observation("MDC", "150364")
    assert body is not None and body.site == "core"  # the site's entry replaces the bundled one
    assert tables.unit("ck", ["U/litre"]) is not None and tables.route(["i.m."]) == "im"
    assert tables.observation("LN", "2157-6") is not None  # the bundled entries stay
    assert load_tables().observation("99ZZZ", "CK-TOTAL") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[observation]]\nsystem = "nowhere"\ncode = "1"\nkind = "lab"\ntarget = "ck"',
         "system 'nowhere' is not in [systems]"),
        ('[[observation]]\nsystem = "loinc"\ncode = "1"\nkind = "vital"\ntarget = "ck"',
         "ck is a lab, not a vital"),
        ('[[observation]]\nsystem = "loinc"\ncode = "1"\nkind = "lab"\ntarget = "sodium"',
         "target 'sodium' is not one of"),
        ('[[unit]]\nto = "mmol/L"\nspellings = ["x"]\nfor = ["ck"]',
         "'mmol/L' is not a contract unit of 'ck'"),
        ('[[route]]\nroute = "rectal"\nspellings = ["PR"]', "route 'rectal' is not one of"),
        ("not toml [", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_site_file_is_refused_naming_the_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CodesError) as exc:
        load_tables(str(path))
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_listener_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMS_HL7_TIMEZONE", "Europe/Amsterdam")
    monkeypatch.setenv("NMS_HL7_ASSIGNING_AUTHORITY", "HOSP")
    monkeypatch.setenv("NMS_HL7_MAX_MESSAGE_BYTES", "2048")
    s = Hl7Settings()
    assert (s.timezone, s.assigning_authority, s.max_message_bytes) == (
        "Europe/Amsterdam",
        "HOSP",
        2048,
    )
    monkeypatch.setenv("NMS_HL7_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Hl7Settings()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("fhir.example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_fhir_listen_refuses_a_non_loopback_host_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NMS_FHIR_TOKEN_FILE", raising=False)
    assert main(["fhir-listen", "--bootstrap", "127.0.0.1:9", "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0 without a bearer token" in capsys.readouterr().err


def test_the_token_comes_from_a_file_and_must_be_long_enough(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("short\n")
    with pytest.raises(ValueError, match="at least 16 characters"):
        FhirSettings(token_file=token).token()
    token.write_text("  a-long-enough-bearer-token \n")
    secret = FhirSettings(token_file=token).token()
    assert secret is not None and secret.get_secret_value() == "a-long-enough-bearer-token"
    assert "a-long-enough" not in repr(FhirSettings(token_file=token).token())
