"""The receivers file: receivers, routes per priority, secrets read from files and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.forward.settings import (
    PAGERDUTY_URL,
    ForwardSettings,
    ReceiversError,
    load_receivers,
    parse_receivers,
)
from tests.forward.kit import write


def settings_for(path: Path) -> ForwardSettings:
    return ForwardSettings(receivers_file=path)


def test_a_file_with_secrets_in_files(tmp_path: Path) -> None:
    key = write(tmp_path / "pd", "  R0UTINGKEY-0123456789abcdef  \n")
    secret = write(tmp_path / "hmac", "hmac-secret\n")
    url = write(tmp_path / "url", "https://hooks.example.org/T0K3N-in-the-path\n")
    path = write(
        tmp_path / "receivers.toml",
        f'''
[receivers.page]
kind = "pagerduty"
routing_key_file = "{key}"

[receivers.integration]
kind = "webhook"
url_file = "{url}"
secret_file = "{secret}"

[routes]
high = ["page", "integration"]
medium = ["integration"]
''',
    )
    got = load_receivers(settings_for(path))
    page, hook = got.receivers["page"], got.receivers["integration"]
    assert page.url.get_secret_value() == PAGERDUTY_URL
    assert page.routing_key is not None
    assert page.routing_key.get_secret_value() == "R0UTINGKEY-0123456789abcdef"
    assert hook.url.get_secret_value() == "https://hooks.example.org/T0K3N-in-the-path"
    assert got.routes.high == ("page", "integration") and got.routes.low == ()
    shown = repr(got) + str(got)
    for secret_text in ("R0UTINGKEY", "hmac-secret", "T0K3N"):
        assert secret_text not in shown


def test_the_default_routes_page_high_notify_medium_and_drop_nothing_silently() -> None:
    spec = parse_receivers(
        '[receivers.page]\nkind = "webhook"\nurl = "http://x"\nsecret_file = "/s"\n'
        '[receivers.notify]\nkind = "webhook"\nurl = "http://y"\nsecret_file = "/s"\n',
        json_format=False,
    )
    assert spec.routes.high == ("page",) and spec.routes.medium == ("notify",)
    assert spec.routes.low == ()
    # The default routes name "notify": a file without it must say so, not drop medium alerts.
    with pytest.raises(ReceiversError, match=r"routes\.medium names 'notify'"):
        parse_receivers(
            '[receivers.page]\nkind = "webhook"\nurl = "http://x"\nsecret_file = "/s"\n', False
        )


def test_json_is_read_as_well(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.json",
        '{"receivers": {"am": {"kind": "alertmanager", '
        '"url": "http://am:9093"}}, "routes": {"high": ["am"], "medium": ["am"]}}',
    )
    assert load_receivers(settings_for(path)).receivers["am"].kind == "alertmanager"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[receivers.p]\nkind = "pagerduty"', "routing_key_file"),
        ('[receivers.w]\nkind = "webhook"\nurl = "http://x"', "secret_file"),
        ('[receivers.a]\nkind = "alertmanager"', "url or url_file"),
        ('[receivers.a]\nkind = "smtp"\nurl = "x"', "kind"),
        ('[receivers.a]\nkind = "alertmanager"\nurl = "x"\nroutes = 1', "routes"),
        ('[receivers.a]\nkind = "alertmanager"\nurl = "x"\n[routes]\nhigh = ["b"]', "'b'"),
        ("not toml [", "TOML"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ReceiversError, match=says):
        parse_receivers(text, json_format=False)


def test_a_missing_or_empty_secret_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.toml",
        f'[receivers.page]\nkind = "pagerduty"\n'
        f'routing_key_file = "{tmp_path / "missing"}"\n[routes]\nmedium = []\n',
    )
    with pytest.raises(ReceiversError, match="cannot read"):
        load_receivers(settings_for(path))
    write(tmp_path / "missing", "\n")
    with pytest.raises(ReceiversError, match="is empty"):
        load_receivers(settings_for(path))


def test_no_file_configured() -> None:
    with pytest.raises(ReceiversError, match="NMS_FORWARD_RECEIVERS_FILE"):
        load_receivers(ForwardSettings())


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMS_FORWARD_GROUP", "pager")
    monkeypatch.setenv("NMS_FORWARD_FIRST_START", "earliest")
    monkeypatch.setenv("NMS_FORWARD_ALERTMANAGER_RESEND_S", "30")
    s = ForwardSettings()
    assert (s.group, s.first_start, s.alertmanager_resend_s) == ("pager", "earliest", 30.0)
