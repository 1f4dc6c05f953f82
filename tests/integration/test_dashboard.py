"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against real
dashboard processes, a real worker and the embedded broker.

One broker, one worker, one shared dashboard and one Chromium serve the whole module (the machine
has two cores); every test uses its own patients and its own browser context, so the tests stay
independent. Waits are for conditions, each bounded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from monitor.settings import Settings
from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from monitor.web.auth import local_user_name
from monitor.web.server import start_in_background
from monitor.web.settings import WebSettings
from tests.integration.browser import ARTIFACTS, DashboardProcess, launch, live_case, send
from tests.integration.harness import (
    WARD,
    TopicReader,
    WorkerProcess,
    replay_alerts,
    replay_order,
    wait_for,
)

WAIT_MS = 60_000
USER = local_user_name()


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard")


@pytest.fixture(scope="module")
def shared_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        ensure_topics(KafkaSettings(bootstrap=b.bootstrap))
        yield b


@pytest.fixture(scope="module")
def worker(shared_broker: EmbeddedBroker, tmp: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(shared_broker.bootstrap, tmp, "worker").start()
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="module")
def dashboard(
    shared_broker: EmbeddedBroker, worker: WorkerProcess, tmp: Path
) -> Iterator[DashboardProcess]:
    d = DashboardProcess(shared_broker.bootstrap, tmp, "dashboard").start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def alerts(shared_broker: EmbeddedBroker) -> Iterator[TopicReader]:
    reader = TopicReader(shared_broker.bootstrap, "nms.alerts")
    try:
        yield reader
    finally:
        reader.close()


def transitions(reader: TopicReader, patient: str) -> list[dict[str, Any]]:
    return [a for a in reader.fresh_values() if a["patient_id"] == patient]


def card(page: Page, patient: str) -> Any:
    return page.locator(f'article.card[data-patient="{patient}"]')


def arrive_high(page: Page, reader: TopicReader, patient: str) -> dict[str, Any]:
    """Wait until the worker has produced the case's last transition and the page shows it."""

    def done() -> bool:
        return any(
            a["priority"] == "high" and a["transition"] == "updated"
            for a in transitions(reader, patient)
        )

    wait_for(done, 90, f"{patient}'s alerts")
    last = transitions(reader, patient)[-1]
    expect(card(page, patient)).to_have_attribute(
        "data-transition", last["transition_id"], timeout=WAIT_MS
    )
    return last


def test_demo_case_arrives_beside_a_worker_through_start_in_background(
    shared_broker: EmbeddedBroker, worker: WorkerProcess, page: Page, tmp: Path
) -> None:
    """What ``nms-monitor run --demo`` does: the dashboard in the worker's company (here the
    test process), the stream clock (the demo's event times are in the past), the demo file."""
    expected = replay_alerts(WARD)
    settings = Settings(web=WebSettings(port=0))
    handle = start_in_background(settings, shared_broker.bootstrap, clock="stream")
    try:
        assert handle.url.startswith("http://127.0.0.1:")
        page.goto(handle.url)
        expect(page.locator("#live")).to_have_text("Live", timeout=WAIT_MS)
        ordered = tmp / "ward-ordered.ndjson"
        ordered.write_bytes(b"\n".join(replay_order(WARD.read_bytes().splitlines())) + b"\n")
        send(shared_broker.bootstrap, ordered)
        demo = card(page, "demo-nms-1")
        # It arrives without a reload and escalates to the last transition replay gives.
        expect(demo).to_have_attribute(
            "data-transition", expected[-1]["transition_id"], timeout=WAIT_MS
        )
        expect(demo.locator(".prio")).to_have_text("!!! HIGH")
        expect(demo.locator(".score")).to_contain_text("Score 93 / cutoff 74")
        for label in ("Hyperthermia", "Rigidity", "Altered mental status", "CK elevation",
                      "Sympathetic nervous system lability"):  # fmt: skip
            expect(demo.locator(".criteria")).to_contain_text(label)
        expect(demo.locator(".criteria")).to_contain_text("2650 U/L")
        expect(demo.locator(".exposure")).to_contain_text("haloperidol")
        expect(demo.locator(".spark svg")).to_have_count(6)
        expect(demo.locator(".state")).to_have_text("Not acknowledged")
        assert page.locator("#group-high .card").count() >= 1
    finally:
        handle.stop()
    assert not handle.running


def test_acknowledge_changes_the_state_through_the_stream(
    dashboard: DashboardProcess, alerts: TopicReader, page: Page, tmp: Path
) -> None:
    send(dashboard.env["NMS_KAFKA_BOOTSTRAP"], live_case("live-ack", tmp / "ack.ndjson"))
    page.goto(dashboard.url)
    arrive_high(page, alerts, "live-ack")
    c = card(page, "live-ack")
    expect(c.locator(".state")).to_have_text("Not acknowledged")
    c.locator("button[data-action=acknowledge]").click()
    expect(c.locator(".state")).to_have_text(f"Acknowledged by {USER}", timeout=WAIT_MS)
    # What the page shows is the worker's transition, not a change the page made itself.
    acked = transitions(alerts, "live-ack")[-1]
    assert acked["transition"] == "acknowledged" and acked["acknowledged_by"] == USER
    expect(c).to_have_attribute("data-transition", acked["transition_id"])
    expect(c.locator("button[data-action=acknowledge]")).to_have_count(0)


def test_snooze_with_a_reason_shows_its_end(
    dashboard: DashboardProcess, alerts: TopicReader, page: Page, tmp: Path
) -> None:
    send(dashboard.env["NMS_KAFKA_BOOTSTRAP"], live_case("live-snooze", tmp / "snooze.ndjson"))
    page.goto(dashboard.url)
    arrive_high(page, alerts, "live-snooze")
    c = card(page, "live-snooze")
    c.locator("button[data-open=snooze]").click()
    dialog = page.locator("#act-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#act-patient")).to_have_text("Patient live-snooze")
    dialog.locator("select[name=minutes]").select_option("30")
    dialog.locator("input[name=reason]").fill("family meeting at the bedside")
    dialog.locator("#act-submit").click()
    expect(dialog).to_be_hidden()
    snoozed = page.locator('#group-snoozed article.card[data-patient="live-snooze"]')
    expect(snoozed).to_have_count(1, timeout=WAIT_MS)
    last = transitions(alerts, "live-snooze")[-1]
    assert last["transition"] == "snoozed"
    until = dt.datetime.fromisoformat(last["snoozed_until"])
    assert until - dt.datetime.fromisoformat(last["time"]) == dt.timedelta(minutes=30)
    expect(snoozed.locator(".state")).to_have_text(f"Snoozed until {until:%d %b %H:%M}")
    expect(snoozed.locator(".reason")).to_contain_text("family meeting at the bedside")
    expect(page.locator('#group-high article.card[data-patient="live-snooze"]')).to_have_count(0)


def test_resolve_removes_the_alert_from_the_ward_view(
    dashboard: DashboardProcess, alerts: TopicReader, page: Page, tmp: Path
) -> None:
    send(dashboard.env["NMS_KAFKA_BOOTSTRAP"], live_case("live-resolve", tmp / "resolve.ndjson"))
    page.goto(dashboard.url)
    arrive_high(page, alerts, "live-resolve")
    c = card(page, "live-resolve")
    # A resolve needs a reason: the browser will not submit the form without one.
    c.locator("button[data-open=resolve]").click()
    dialog = page.locator("#act-dialog")
    expect(dialog.locator("#act-minutes")).to_be_hidden()
    dialog.locator("#act-submit").click()
    expect(dialog).to_be_visible()
    expect(c.locator(".pending")).to_have_text("")
    dialog.locator("input[name=reason]").fill("CK falling, neuroleptic stopped, reviewed")
    dialog.locator("#act-submit").click()
    expect(dialog).to_be_hidden()
    expect(c).to_have_count(0, timeout=WAIT_MS)
    last = transitions(alerts, "live-resolve")[-1]
    assert last["transition"] == "resolved" and last["status"] == "resolved"
    assert last["reason"] == f"resolved by {USER}: CK falling, neuroleptic stopped, reviewed"
    # The patient view keeps the history, newest first.
    page.goto(f"{dashboard.url}/patients/live-resolve")
    first = page.locator("ol.history > li").first
    expect(first).to_contain_text("resolved")
    expect(first).to_contain_text("CK falling")


def test_page_recovers_after_the_dashboard_restarts(
    shared_broker: EmbeddedBroker, worker: WorkerProcess, page: Page, tmp: Path
) -> None:
    own = DashboardProcess(shared_broker.bootstrap, tmp, "restarting").start()
    try:
        page.goto(own.url)
        expect(page.locator("#live")).to_have_text("Live", timeout=WAIT_MS)
        page.evaluate("window.sameDocument = true")
        own.stop()
        expect(page.locator("#live")).to_contain_text("Not live", timeout=WAIT_MS)
        send(shared_broker.bootstrap, live_case("live-restart", tmp / "restart.ndjson"))
        own.start()
        expect(card(page, "live-restart")).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator("#live")).to_have_text("Live", timeout=WAIT_MS)
        assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    finally:
        own.stop()


def test_screenshots_of_the_ward_and_patient_views(
    dashboard: DashboardProcess, alerts: TopicReader, page: Page, tmp: Path
) -> None:
    """A ward with a high, a medium and a low alert, and a patient's history; the PNGs are test
    artefacts (``out/test-artifacts``, or ``NMS_TEST_ARTIFACTS``)."""
    bootstrap = dashboard.env["NMS_KAFKA_BOOTSTRAP"]
    now = dt.datetime.now(dt.UTC)
    send(
        bootstrap,
        live_case("bed-07", tmp / "a.ndjson", now - dt.timedelta(minutes=20)),
        live_case("bed-12", tmp / "b.ndjson", now - dt.timedelta(minutes=5),
                  upto="2026-03-03T23:00:00Z"),
        live_case("bed-03", tmp / "c.ndjson", now - dt.timedelta(minutes=40),
                  upto="2026-03-03T15:00:00Z"),
    )  # fmt: skip
    page.goto(dashboard.url)
    for patient, priority in (("bed-07", "HIGH"), ("bed-12", "MEDIUM"), ("bed-03", "LOW")):
        expect(card(page, patient).locator(".prio")).to_contain_text(priority, timeout=WAIT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-ward.png"), full_page=True)
    card(page, "bed-07").locator("a.patient").click()
    expect(page.locator(".episode")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("ol.history > li")).to_have_count(
        len(transitions(alerts, "bed-07")), timeout=WAIT_MS
    )
    expect(page.locator("#live")).to_have_text("Live", timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "dashboard-patient.png"), full_page=True)
    assert (ARTIFACTS / "dashboard-ward.png").stat().st_size > 10_000
