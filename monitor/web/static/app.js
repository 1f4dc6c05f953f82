// nms-monitor dashboard: live updates over server-sent events, and the ack actions.
// No build step and no library: EventSource, fetch and the DOM. The page never changes an
// alert's state by itself: an ack is sent, and the card changes when the worker's transition
// comes back on the stream.
"use strict";

(function () {
  const top = document.getElementById("top");
  if (!top || top.dataset.view === "none") return;
  const view = top.dataset.view;
  const pingMs = Number(top.dataset.ping) || 5000;
  let since = top.dataset.since;
  let offset = Number(top.dataset.now) - Date.now(); // server clock minus ours
  let source = null;
  let lastMessage = 0;
  let retryMs = 1000;
  let reconnectTimer = null;

  const live = document.getElementById("live");
  const feed = document.getElementById("feed");

  function setLive(on, text) {
    live.classList.toggle("live-on", on);
    live.classList.toggle("live-off", !on);
    document.body.classList.toggle("not-live", !on);
    live.textContent = text;
  }

  function streamUrl() {
    const q = new URLSearchParams({ view: view });
    if (view === "patient") q.set("patient", top.dataset.patient);
    if (since) q.set("since", since);
    return "/events?" + q.toString();
  }

  function connect() {
    if (reconnectTimer) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
    }
    if (source) source.close();
    source = new EventSource(streamUrl());
    lastMessage = Date.now();
    source.onopen = function () {
      retryMs = 1000;
      lastMessage = Date.now();
      setLive(true, "Live");
    };
    source.onerror = function () {
      setLive(false, "Not live: reconnecting…");
      // The browser retries by itself unless the server refused the stream (CLOSED).
      if (source.readyState === EventSource.CLOSED) schedule();
    };
    const on = function (name, fn) {
      source.addEventListener(name, function (ev) {
        lastMessage = Date.now();
        if (ev.lastEventId) since = ev.lastEventId;
        fn(JSON.parse(ev.data));
      });
    };
    on("snapshot", function (d) {
      offset = d.now - Date.now();
      document.getElementById("ward").innerHTML = d.html;
      afterChange();
    });
    on("card", function (d) {
      upsert(d);
      afterChange();
    });
    on("remove", function (d) {
      const el = document.getElementById("alert-" + d.id);
      if (el) el.remove();
      afterChange();
    });
    on("patient", function (d) {
      offset = d.now - Date.now();
      const main = document.getElementById("patient");
      const open = new Set();
      main.querySelectorAll("li[data-transition] > details[open]").forEach(function (x) {
        open.add(x.parentElement.dataset.transition);
      });
      main.innerHTML = d.html;
      main.querySelectorAll("li[data-transition] > details").forEach(function (x) {
        if (open.has(x.parentElement.dataset.transition)) x.open = true;
      });
    });
    on("feed", function (d) {
      feed.dataset.status = d.status;
      feed.textContent = d.status === "live" ? "" : "Alerts feed: " + d.status;
    });
    on("ping", function (d) {
      offset = d.now - Date.now();
    });
  }

  function schedule() {
    if (reconnectTimer) return;
    if (source) source.close();
    reconnectTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }

  // A connection that went silent (a network that dropped without closing) is not live.
  setInterval(function () {
    if (Date.now() - lastMessage > 3 * pingMs) {
      setLive(false, "Not live: reconnecting…");
      schedule();
    }
  }, 1000);

  function upsert(d) {
    const old = document.getElementById("alert-" + d.id);
    if (old) old.remove();
    const section = document.getElementById("group-" + d.group);
    if (!section) return;
    const list = section.querySelector(".cards");
    const tmp = document.createElement("template");
    tmp.innerHTML = d.html.trim();
    const el = tmp.content.firstElementChild;
    let before = null;
    for (const other of list.children) {
      if (other.dataset.key > d.key) {
        before = other;
        break;
      }
    }
    list.insertBefore(el, before);
  }

  function afterChange() {
    let total = 0;
    let high = 0;
    document.querySelectorAll("section.group").forEach(function (s) {
      const n = s.querySelectorAll(".cards > .card").length;
      s.querySelector(".count").textContent = String(n);
      s.classList.toggle("is-empty", n === 0);
      total += n;
      if (s.dataset.group === "high") high = n;
    });
    const summary = document.getElementById("summary");
    if (summary) summary.textContent = total + " open alert" + (total === 1 ? "" : "s");
    document.title = (high ? "(" + high + " high) " : "") + "NMS alerts · ward";
    refreshTimes();
  }

  function duration(s) {
    s = Math.abs(s);
    if (s < 60) return "just now";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min";
    if (m < 48 * 60) {
      const h = Math.floor(m / 60);
      const r = m % 60;
      return r ? h + " h " + r + " min" : h + " h";
    }
    const d = Math.floor(m / 1440);
    const h = Math.floor((m % 1440) / 60);
    return h ? d + " d " + h + " h" : d + " d";
  }

  function refreshTimes() {
    const now = Date.now() + offset;
    document.querySelectorAll("time[data-ago]").forEach(function (t) {
      const delta = (now - Date.parse(t.getAttribute("datetime"))) / 1000;
      const span = duration(delta);
      t.textContent = span === "just now" ? span : delta >= 0 ? span + " ago" : "in " + span;
    });
  }
  setInterval(refreshTimes, 15000);

  // Actions: acknowledge (button), snooze and resolve (forms with a reason).
  async function send(actions, body) {
    const pending = actions.querySelector(".pending");
    const controls = actions.querySelectorAll("button, input, select");
    controls.forEach(function (c) {
      c.disabled = true;
    });
    pending.textContent = "Sending…";
    pending.classList.remove("error");
    try {
      const r = await fetch("/api/acks", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      if (r.status === 202) {
        pending.textContent = "Sent: waiting for the worker to confirm…";
        return;
      }
      let msg = "HTTP " + r.status;
      try {
        const j = await r.json();
        msg = j.error + (j.problems ? ": " + j.problems.map((p) => p.problem).join("; ") : "");
      } catch (e) {
        /* not JSON */
      }
      pending.textContent = "Not sent: " + msg;
      pending.classList.add("error");
    } catch (e) {
      pending.textContent = "Not sent: the dashboard is unreachable";
      pending.classList.add("error");
    }
    controls.forEach(function (c) {
      c.disabled = false;
    });
  }

  const dialog = document.getElementById("act-dialog");
  let dialogFor = null;

  document.addEventListener("click", function (ev) {
    const b = ev.target.closest("button[data-action]");
    if (b) {
      const actions = b.closest(".actions");
      send(actions, { alert_id: actions.dataset.alert, action: b.dataset.action });
      return;
    }
    const o = ev.target.closest("button[data-open]");
    if (o && dialog) {
      const actions = o.closest(".actions");
      const snooze = o.dataset.open === "snooze";
      dialogFor = { alert: actions.dataset.alert, action: o.dataset.open };
      document.getElementById("act-title").textContent = snooze ? "Snooze the alert" : "Resolve the alert";
      document.getElementById("act-patient").textContent = "Patient " + actions.dataset.patient;
      document.getElementById("act-minutes").hidden = !snooze;
      document.getElementById("act-submit").textContent = snooze ? "Snooze" : "Resolve";
      dialog.querySelector("input[name=reason]").value = "";
      dialog.showModal();
    }
  });

  if (dialog) {
    document.getElementById("act-cancel").addEventListener("click", function () {
      dialog.close();
    });
    document.getElementById("act-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      const f = ev.target;
      const body = { alert_id: dialogFor.alert, action: dialogFor.action, reason: f.elements.reason.value };
      if (dialogFor.action === "snooze") body.minutes = Number(f.elements.minutes.value);
      dialog.close();
      const card = document.getElementById("alert-" + dialogFor.alert);
      const actions = card && card.querySelector(".actions");
      if (actions) send(actions, body);
    });
  }

  setLive(false, "Connecting…");
  connect();
  afterChange();
})();
