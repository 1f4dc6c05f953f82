"""The dashboard's ``/metrics`` (public, counts only) and ``/alerts/{alert_id}`` (the link in
pages: it names an alert, never a patient, and needs a user like any other page)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from starlette.testclient import TestClient

from monitor.web.app import create_app
from monitor.web.settings import WebSettings
from tests.web.factory import alert
from tests.web.test_api import OPEN, TOKEN, FakePublisher, dashboard, local, secured

__all__ = ["local", "secured"]  # fixtures


def test_metrics_need_no_user_and_count_open_alerts_by_priority(
    secured: tuple[TestClient, FakePublisher],
) -> None:
    client, _ = secured
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'nms_dashboard_open_alerts{priority="high"} 1.0' in r.text
    assert 'nms_dashboard_open_alerts{priority="medium"} 0.0' in r.text
    assert "p-open" not in r.text and OPEN.alert_id not in r.text


def test_acks_are_counted_by_outcome(local: tuple[TestClient, FakePublisher]) -> None:
    client, _ = local
    ok = {"alert_id": OPEN.alert_id, "action": "acknowledge"}
    headers = {"content-type": "application/json", "sec-fetch-site": "same-origin"}
    assert client.post("/api/acks", json=ok, headers=headers).status_code == 202
    gone = {"alert_id": "nms-none", "action": "acknowledge"}
    assert client.post("/api/acks", json=gone, headers=headers).status_code == 404
    text = client.get("/metrics").text
    assert 'nms_dashboard_acks_total{outcome="sent"} 1.0' in text
    assert 'nms_dashboard_acks_total{outcome="refused"} 1.0' in text


def test_the_alert_link_redirects_a_user_to_the_patient(
    secured: tuple[TestClient, FakePublisher],
) -> None:
    client, _ = secured
    path = f"/alerts/{OPEN.alert_id}"
    assert client.get(path, follow_redirects=False).status_code == 401
    auth = {"authorization": f"Bearer {TOKEN}"}
    r = client.get(path, headers=auth, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/patients/p-open"
    assert client.get("/alerts/nms-unknown", headers=auth).status_code == 404


def test_the_alert_link_quotes_the_patient_id() -> None:
    odd = alert("ward 3/bed 7", "high")
    d = dashboard(WebSettings())
    d.apply([(odd, odd.model_dump_json().encode())], 0.0)
    with TestClient(create_app(d), base_url="http://127.0.0.1:8080") as client:
        r = client.get(f"/alerts/{odd.alert_id}", follow_redirects=False)
        counted = client.get("/metrics").text
    assert r.headers["location"] == "/patients/ward%203%2Fbed%207"
    assert "nms_dashboard_transitions_total 1.0" in counted  # one applied through the feed


@pytest.mark.skipif(shutil.which("promtool") is None, reason="installed by scripts/test.sh")
def test_promtool_lints_the_dashboard_metrics(local: tuple[TestClient, FakePublisher]) -> None:
    client, _ = local
    out = subprocess.run(["promtool", "check", "metrics"], input=client.get("/metrics").content,
                         capture_output=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
