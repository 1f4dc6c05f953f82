"""The dashboard's HTTP API without a broker: authentication, cross-site checks, request bodies,
what gets published (a fake publisher), and what gets logged."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from monitor.web.acks import PublishError
from monitor.web.app import Dashboard, create_app
from monitor.web.auth import AuthConfigError, authenticator
from monitor.web.passwords import hash_password, verify_password
from monitor.web.settings import WebSettings
from monitor.web.store import AlertStore, compress
from tests.web.factory import T0, alert

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token-for-alice"
OPEN = alert("p-open", "high", at=T0)
CLOSED = alert("p-closed", "high", "resolved", 2, status="resolved", reason="resolved by x")


class FakePublisher:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[bytes, dict[str, object]]] = []
        self.fail = fail

    def publish(self, key: bytes, value: bytes) -> None:
        if self.fail:
            raise PublishError("KafkaTimeoutError")
        self.sent.append((key, orjson.loads(value)))


def dashboard(web: WebSettings, publisher: FakePublisher | None = None) -> Dashboard:
    store = AlertStore()
    store.apply(
        [(a, compress(a.model_dump_json().encode())) for a in (OPEN, alert("p-closed"), CLOSED)],
        0.0,
    )
    return Dashboard(web, store, publisher or FakePublisher(), authenticator(web))


@pytest.fixture
def local() -> Iterator[tuple[TestClient, FakePublisher]]:
    pub = FakePublisher()
    d = dashboard(WebSettings(), pub)
    with TestClient(create_app(d), base_url="http://127.0.0.1:8080") as client:
        yield client, pub


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, FakePublisher]]:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# name:token\nalice:{TOKEN}\n")
    users = tmp_path / "users"
    users.write_text(f"bob:{hash_password('correct horse battery')}\n")
    pub = FakePublisher()
    web = WebSettings(host="0.0.0.0", tokens_file=str(tokens), users_file=str(users))
    with TestClient(create_app(dashboard(web, pub)), base_url="http://ward.example") as client:
        yield client, pub


def ack(client: TestClient, body: object, **headers: str) -> tuple[int, dict[str, object]]:
    r = client.post("/api/acks", content=orjson.dumps(body), headers={
        "content-type": "application/json", **headers})  # fmt: skip
    return r.status_code, r.json() if r.headers.get("content-type") == "application/json" else {}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- loopback default ----------------------------------------------------------------------------


def test_loopback_default_serves_the_os_user_and_acks_in_their_name(
    local: tuple[TestClient, FakePublisher],
) -> None:
    client, pub = local
    r = client.get("/")
    assert r.status_code == 200
    user = authenticator(WebSettings()).authenticate(None)
    assert user is not None and user.method == "local"
    assert f'Signed in as <b id="user">{user.name}</b>' in r.text
    assert "p-open" in r.text and "p-closed" not in r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    status, body = ack(client, {"alert_id": OPEN.alert_id, "action": "acknowledge"})
    assert status == 202, body
    ((key, event),) = pub.sent
    assert key == b"p-open"
    assert event["kind"] == "ack" and event["patient_id"] == "p-open"
    assert event["by"] == user.name and event["action"] == "acknowledge"
    assert event["event_id"] == body["event_id"]


def test_snooze_ends_after_the_chosen_minutes_and_carries_the_reason(
    local: tuple[TestClient, FakePublisher],
) -> None:
    client, pub = local
    status, _ = ack(client, {"alert_id": OPEN.alert_id, "action": "snooze", "minutes": 30,
                             "reason": "  family at the bedside  "})  # fmt: skip
    assert status == 202
    event = pub.sent[0][1]
    t = dt.datetime.fromisoformat(str(event["time"]))
    until = dt.datetime.fromisoformat(str(event["until"]))
    assert until - t == dt.timedelta(minutes=30)
    assert event["reason"] == "family at the bedside"


def test_unknown_host_header_is_refused_on_loopback(
    local: tuple[TestClient, FakePublisher],
) -> None:
    client, _ = local
    assert client.get("/", headers={"host": "rebound.example:8080"}).status_code == 400
    assert client.get("/", headers={"host": "localhost:8080"}).status_code == 200


def test_patient_page_and_unknown_patient(local: tuple[TestClient, FakePublisher]) -> None:
    client, _ = local
    r = client.get("/patients/p-closed")
    assert r.status_code == 200 and "resolved" in r.text
    assert client.get("/patients/nobody").status_code == 404


def test_health_needs_no_authentication_and_shows_no_patient(
    secured: tuple[TestClient, FakePublisher],
) -> None:
    client, _ = secured
    r = client.get("/healthz")
    assert r.status_code == 200 and "p-open" not in r.text
    assert r.json()["alerts"] == 2


# -- authentication --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/patients/p-open", "/events", "/api/alerts"])
def test_no_or_wrong_credentials_get_401(
    secured: tuple[TestClient, FakePublisher], path: str
) -> None:
    client, _ = secured
    r = client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    assert "p-open" not in r.text
    for wrong in ("Bearer nope-not-a-token-at-all", f"Bearer {TOKEN}x", basic("bob", "wrong"),
                  basic("mallory", "correct horse battery"), "Basic !!!", "Digest x"):  # fmt: skip
        assert client.get(path, headers={"authorization": wrong}).status_code == 401, wrong


def test_ack_without_credentials_is_401_and_publishes_nothing(
    secured: tuple[TestClient, FakePublisher],
) -> None:
    client, pub = secured
    status, _ = ack(client, {"alert_id": OPEN.alert_id, "action": "acknowledge"})
    assert status == 401 and pub.sent == []


def test_bearer_token_and_basic_user_are_the_ack_by(
    secured: tuple[TestClient, FakePublisher],
) -> None:
    client, pub = secured
    assert client.get("/", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    body = {"alert_id": OPEN.alert_id, "action": "acknowledge"}
    assert ack(client, body, authorization=f"Bearer {TOKEN}")[0] == 202
    assert ack(client, body, authorization=basic("bob", "correct horse battery"))[0] == 202
    assert [e["by"] for _, e in pub.sent] == ["alice", "bob"]
    # The user comes from authentication only: a 'by' in the body is refused.
    status, err = ack(client, {**body, "by": "someone-else"}, authorization=f"Bearer {TOKEN}")
    assert status == 422 and err["problems"] == [{"field": "by", "problem": "Extra inputs are "
                                                  "not permitted"}]  # fmt: skip
    assert len(pub.sent) == 2


def test_refuses_a_non_loopback_address_without_authentication() -> None:
    for host in ("0.0.0.0", "::", "10.1.2.3", "dashboard.example"):
        with pytest.raises(AuthConfigError, match="refusing to listen on"):
            authenticator(WebSettings(host=host))
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert authenticator(WebSettings(host=host)).challenge is None


def test_dashboard_command_refuses_to_start_without_authentication() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "dashboard", "--host", "0.0.0.0",
         "--port", "0", "--bootstrap", "127.0.0.1:9"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in out.stderr
    assert "dashboard on" not in out.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("alice:short", "token shorter than 16"),
        ("no separator here", ":1: expected 'user:secret'"),
        (f"a:{TOKEN}\nb:{TOKEN}", ":2: the same token twice"),
        ("# only a comment", "the files name nobody"),
    ],
)
def test_unusable_tokens_file_is_refused_without_echoing_secrets(
    tmp_path: Path, content: str, message: str
) -> None:
    f = tmp_path / "tokens"
    f.write_text(content)
    with pytest.raises(AuthConfigError, match=message) as err:
        authenticator(WebSettings(tokens_file=str(f)))
    assert TOKEN not in str(err.value) and "short" not in str(err.value).replace("shorter", "")


def test_users_file_needs_hashes(tmp_path: Path) -> None:
    f = tmp_path / "users"
    f.write_text("bob:plain-password\n")
    with pytest.raises(AuthConfigError, match="not a password hash"):
        authenticator(WebSettings(users_file=str(f)))
    with pytest.raises(AuthConfigError, match="cannot read it"):
        authenticator(WebSettings(users_file=str(tmp_path / "missing")))


def test_password_hash_round_trip() -> None:
    h = hash_password("correct horse battery")
    assert verify_password("correct horse battery", h)
    assert not verify_password("correct horse batterx", h)
    assert not verify_password("x", "scrypt$1$2$3$!!$??")


# -- cross-site requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:8080"},
    ],
)
def test_cross_site_ack_is_refused(
    local: tuple[TestClient, FakePublisher], headers: dict[str, str]
) -> None:
    client, pub = local
    status, _ = ack(client, {"alert_id": OPEN.alert_id, "action": "acknowledge"}, **headers)
    assert status == 403 and pub.sent == []


def test_same_origin_ack_is_accepted(local: tuple[TestClient, FakePublisher]) -> None:
    client, pub = local
    headers = {"origin": "http://127.0.0.1:8080", "sec-fetch-site": "same-origin"}
    assert ack(client, {"alert_id": OPEN.alert_id, "action": "acknowledge"}, **headers)[0] == 202
    assert len(pub.sent) == 1


def test_basic_auth_is_ambient_and_checked_but_a_bearer_token_is_not(
    secured: tuple[TestClient, FakePublisher],
) -> None:
    client, pub = secured
    body = {"alert_id": OPEN.alert_id, "action": "acknowledge"}
    evil = {"origin": "http://evil.example"}
    assert ack(client, body, authorization=basic("bob", "correct horse battery"), **evil)[0] == 403
    assert ack(client, body, authorization=f"Bearer {TOKEN}", **evil)[0] == 202
    assert len(pub.sent) == 1


def test_a_form_post_cannot_ack(local: tuple[TestClient, FakePublisher]) -> None:
    client, pub = local
    r = client.post("/api/acks", data={"alert_id": OPEN.alert_id, "action": "acknowledge"})
    assert r.status_code == 415 and pub.sent == []


# -- bad bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        (b"{not json", 400, "body is not JSON"),
        (b"\xff\xfe", 400, "body is not JSON"),
        (b"[]", 422, "invalid ack"),
        (b"x" * 5000, 413, "body larger than 4096 bytes"),
        (orjson.dumps({"alert_id": OPEN.alert_id}), 422, "invalid ack"),
        (orjson.dumps({"alert_id": OPEN.alert_id, "action": "delete"}), 422, "invalid ack"),
        (orjson.dumps({"alert_id": "../etc", "action": "acknowledge"}), 422, "invalid ack"),
        (orjson.dumps({"alert_id": OPEN.alert_id, "action": "snooze", "reason": "x"}), 422,
         "invalid ack"),
        (orjson.dumps({"alert_id": OPEN.alert_id, "action": "snooze", "minutes": 7,
                       "reason": "x"}), 422, "invalid ack"),
        (orjson.dumps({"alert_id": OPEN.alert_id, "action": "snooze", "minutes": 60,
                       "reason": "   "}), 422, "invalid ack"),
        (orjson.dumps({"alert_id": OPEN.alert_id, "action": "resolve"}), 422, "invalid ack"),
        (orjson.dumps({"alert_id": OPEN.alert_id, "action": "acknowledge", "minutes": 15}), 422,
         "invalid ack"),
        (orjson.dumps({"alert_id": OPEN.alert_id, "action": "resolve", "reason": "x" * 513}),
         422, "invalid ack"),
        (orjson.dumps({"alert_id": "nms-unknown", "action": "acknowledge"}), 404,
         "no such alert"),
        (orjson.dumps({"alert_id": CLOSED.alert_id, "action": "acknowledge"}), 409,
         "the alert is closed"),
    ],
)  # fmt: skip
def test_bad_bodies_get_a_clear_4xx_and_nothing_is_published(
    local: tuple[TestClient, FakePublisher], body: bytes, status: int, problem: str
) -> None:
    client, pub = local
    r = client.post("/api/acks", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert r.json()["error"] == problem
    assert pub.sent == []


def test_broker_failure_is_503(tmp_path: Path) -> None:
    d = dashboard(WebSettings(), FakePublisher(fail=True))
    with TestClient(create_app(d), base_url="http://127.0.0.1:8080") as client:
        status, body = ack(client, {"alert_id": OPEN.alert_id, "action": "acknowledge"})
    assert status == 503 and "try again" in str(body["error"])


def test_events_endpoint_rejects_an_unknown_view(local: tuple[TestClient, FakePublisher]) -> None:
    client, _ = local
    assert client.get("/events?view=everything").status_code == 400
    assert client.get("/events?view=patient").status_code == 400


def test_no_patient_data_in_logs(
    local: tuple[TestClient, FakePublisher], caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = local
    with caplog.at_level(logging.DEBUG, logger="monitor"):
        client.get("/patients/p-open")
        client.get("/patients/p-nobody")
        ack(client, {"alert_id": OPEN.alert_id, "action": "resolve", "reason": "p-open is fine"})
        ack(client, {"alert_id": OPEN.alert_id, "action": "snooze", "minutes": 9, "reason": "x"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET patient_page 200" in text and "POST post_ack 202" in text
    assert "p-open" not in text and "p-nobody" not in text and OPEN.alert_id not in text
