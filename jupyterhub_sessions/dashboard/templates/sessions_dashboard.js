{% raw %}
/* jupyterhub-sessions dashboard: live updates and actions on top of the server-rendered page.
 *
 * Without this script every action still works (links to the spawn form and to the
 * sessions service's confirmation pages). With it:
 * - the page re-fetches itself (GET /hub/home) and swaps #jhs-dashboard: every 15 s, every 2 s
 *   while a session launches or stops; launching rows follow the hub's progress events;
 * - times are shown in local time and the time left counts down;
 * - Stop, Delete and Renew call the sessions service API (DELETE/POST .../api/sessions/...),
 *   Restart posts the session's last options to the hub API, + New session goes straight to
 *   the spawn form, Share uses the hub's shares API, Copy ssh command the ssh service's API.
 */
(function () {
  "use strict";
  document.documentElement.classList.add("jhs-js");
  var cfgEl = document.getElementById("jhs-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var xsrf = (window.jhdata && window.jhdata.xsrf_token) || "";
  var NAME_RE = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,29}$/;
  var busy = 0;
  var lastHtml = null;
  var skew = 0; // server clock - browser clock (ms)
  var sources = {};

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function enc(s) { return encodeURIComponent(s); }

  function notice(text, kind) {
    var box = $("#jhs-notice");
    if (!box) return;
    box.innerHTML = "";
    if (!text) return;
    var div = document.createElement("div");
    div.className = "alert py-2 alert-" + (kind || "info");
    div.setAttribute("role", kind === "danger" ? "alert" : "status");
    div.textContent = text;
    box.appendChild(div);
  }

  async function jsonOf(resp) {
    try { return await resp.json(); } catch (e) { return {}; }
  }

  /* ---- the hub's REST API, with the page's XSRF token ------------------------------ */
  async function hubApi(method, path, body) {
    var resp = await fetch(cfg.hub_prefix + "api/" + path, {
      method: method,
      credentials: "same-origin",
      headers: { "X-XSRFToken": xsrf, "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    var data = await jsonOf(resp);
    if (!resp.ok) throw new Error(data.message || "The hub answered " + resp.status);
    return data;
  }

  /* Same-origin GETs go in "no-cors" mode: JupyterHub (4.1+) and its services accept their
   * login cookie without an XSRF token only for page views and same-origin no-cors GETs, and a
   * same-origin no-cors response is still readable. */
  function pageGet(url) {
    return fetch(url, { mode: "no-cors", credentials: "same-origin", cache: "no-store" });
  }

  /* ---- the sessions service: log in once (fetch follows the OAuth redirects) -------- */
  var service = null;
  async function serviceLogin() {
    if (service) return service;
    var resp = await pageGet(cfg.service_prefix + "login");
    var type = resp.headers.get("Content-Type") || "";
    if (!resp.ok || type.indexOf("json") < 0) throw new Error("Could not reach the sessions service (" + resp.status + ")");
    service = await resp.json();
    return service;
  }
  async function serviceApi(method, path, body) {
    var s = await serviceLogin();
    var resp = await fetch(cfg.service_prefix + "api/" + path, {
      method: method,
      credentials: "same-origin",
      headers: { "X-XSRFToken": s.xsrf, "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    var data = await jsonOf(resp);
    if (!resp.ok) throw new Error(data.message || "The sessions service answered " + resp.status);
    return data;
  }

  /* ---- the ssh command (the ssh service's API; one function to adapt) --------------- */
  /* As docs/ssh.md describes for the hub's home page: a short-lived token of the user for the ssh
   * service (made through the hub API with this page's XSRF token), then GET api/info with it. */
  var sshToken = null;
  async function sshCommand(user, server) {
    if (!sshToken || sshToken.until < Date.now()) {
      var made = await hubApi("POST", "users/" + enc(cfg.user) + "/tokens", {
        expires_in: 300, scopes: ["access:services!service=" + cfg.ssh_service], note: "dashboard: ssh command",
      });
      sshToken = { token: made.token, until: Date.now() + 240000 };
    }
    var resp = await fetch(cfg.ssh_prefix + "api/info", { headers: { Authorization: "token " + sshToken.token, Accept: "application/json" } });
    var info = await jsonOf(resp);
    if (!resp.ok) throw new Error(info.message || "The ssh service answered " + resp.status);
    var found = (info.sessions || []).filter(function (s) { return s.server === server; })[0];
    if (!found) throw new Error("The ssh service does not list this session yet");
    return found.ssh_command;
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      return false;
    }
  }

  /* ---- times -------------------------------------------------------------------------- */
  function localTimes(root) {
    $all("time[data-jhs-time]", root).forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      var today = new Date().toDateString() === d.toDateString();
      t.textContent = today
        ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
        : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
      t.title = d.toString();
    });
  }
  function left(ms) {
    var s = Math.floor(ms / 1000);
    if (s <= 0) return "now";
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + (d === 1 ? " day" : " days") + (h ? " " + h + " h" : "");
    if (h) return h + " h" + (m ? " " + m + " min" : "");
    if (m >= 2) return m + " min";
    return m + " min " + (s % 60) + " s";
  }
  function tick() {
    var now = Date.now() + skew;
    $all("[data-jhs-expires]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-jhs-expires"));
      if (!isNaN(at)) el.textContent = left(at - now);
    });
  }
  function setSkew() {
    var root = $("#jhs-dashboard");
    var serverNow = root && Date.parse(root.getAttribute("data-now"));
    if (serverNow) skew = serverNow - Date.now();
  }

  /* ---- refresh: the same page, swapped in place ---------------------------------------- */
  function anyPending() {
    return $all("#jhs-dashboard tr[data-state=launching], #jhs-dashboard tr[data-state=stopping]").length > 0;
  }
  var refreshTimer = null;
  function schedule(ms) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, ms === undefined ? (anyPending() ? 2000 : 15000) : ms);
  }
  async function refresh() {
    var open = $(".modal.show");
    if (busy || open || document.hidden) return schedule(3000);
    try {
      var resp = await pageGet(window.location.pathname);
      if (!resp.ok) return schedule(30000);
      var html = await resp.text();
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("jhs-dashboard");
      if (!fresh) return; // logged out: stop
      var raw = fresh.innerHTML;
      if (raw !== lastHtml) {
        var keep = saveUi();
        var root = $("#jhs-dashboard");
        root.innerHTML = raw;
        root.setAttribute("data-now", fresh.getAttribute("data-now"));
        lastHtml = raw;
        restoreUi(keep);
        enhance();
      }
    } catch (e) {
      /* offline for a moment: try again later */
    }
    schedule();
  }
  function saveUi() {
    var ui = { notice: ($("#jhs-notice") || {}).innerHTML || "" };
    ["jhs-filter-user", "jhs-filter-type", "jhs-filter-state", "jhs-filter-text", "jhs-new-name"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) ui[id] = { value: el.value, focused: document.activeElement === el };
    });
    return ui;
  }
  function restoreUi(ui) {
    var box = $("#jhs-notice");
    if (box) box.innerHTML = ui.notice;
    Object.keys(ui).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el || !ui[id] || typeof ui[id] !== "object") return;
      if (el.tagName === "SELECT" && !$all("option", el).some(function (o) { return o.value === ui[id].value; })) return;
      el.value = ui[id].value;
      if (ui[id].focused) el.focus();
    });
  }

  /* ---- launch progress: the hub's event stream of each launching session ------------------ */
  function followProgress() {
    $all("#jhs-my-sessions tr[data-state=launching]").forEach(function (tr) {
      var user = tr.getAttribute("data-user"), name = tr.getAttribute("data-session");
      var key = user + "/" + name;
      if (sources[key]) return;
      var url = cfg.hub_prefix + "api/users/" + enc(user) + "/servers/" + enc(name) + "/progress?_xsrf=" + enc(xsrf);
      var es = new EventSource(url);
      sources[key] = es;
      es.onmessage = function (e) {
        var evt = {};
        try { evt = JSON.parse(e.data); } catch (err) { return; }
        var row = $("#jhs-my-sessions tr[data-user='" + CSS.escape(user) + "'][data-session='" + CSS.escape(name) + "']");
        var el = row && $(".jhs-progress", row);
        if (el && evt.message) el.textContent = evt.message;
        if (evt.ready || evt.failed) { es.close(); delete sources[key]; schedule(100); }
      };
      es.onerror = function () { es.close(); delete sources[key]; };
    });
  }

  /* ---- admin filter -------------------------------------------------------------------- */
  function applyFilter() {
    var admin = $("#jhs-admin");
    if (!admin) return;
    var u = $("#jhs-filter-user").value, t = $("#jhs-filter-type").value, st = $("#jhs-filter-state").value;
    var text = ($("#jhs-filter-text").value || "").trim().toLowerCase();
    var shown = 0, rows = $all("#jhs-all-sessions tbody tr[data-user]");
    rows.forEach(function (tr) {
      var ok = (!u || tr.getAttribute("data-u") === u) && (!t || tr.getAttribute("data-t") === t) &&
        (!st || tr.getAttribute("data-state") === st) &&
        (!text || (tr.getAttribute("data-user") + " " + tr.getAttribute("data-session")).toLowerCase().indexOf(text) >= 0);
      tr.style.display = ok ? "" : "none";
      if (ok) shown++;
    });
    var count = $("#jhs-filter-count");
    if (count) count.textContent = shown + " of " + rows.length + " sessions";
  }

  /* ---- actions ----------------------------------------------------------------------------- */
  function rowOf(el) { return el.closest("tr"); }
  async function act(link) {
    var action = link.getAttribute("data-jhs-action");
    var tr = rowOf(link);
    var user = tr.getAttribute("data-user"), name = tr.getAttribute("data-session");
    var path = "sessions/" + enc(user) + "/" + enc(name);
    var label = "“" + (name || "default") + "”";
    if (action === "delete") {
      var drive = link.getAttribute("data-drive");
      var kept = drive ? " Its drive “" + drive + "” and its files are kept." : " Drives are kept.";
      if (!window.confirm("Delete session " + label + "?" + kept)) return;
    }
    busy++;
    link.classList.add("disabled");
    try {
      if (action === "stop") {
        await serviceApi("DELETE", path);
        notice("Stopping session " + label + ".");
      } else if (action === "delete") {
        await serviceApi("DELETE", path, { remove: true });
        notice("Deleted session " + label + "; its drive is kept.", "success");
      } else if (action === "renew") {
        var s = await serviceApi("POST", path + "/renew");
        notice("Renewed " + label + ": it may now run until " + new Date(s.deadlines.max_age).toLocaleString() + ".", "success");
      } else if (action === "restart") {
        // the hub answers once the start is done or 10 s passed: follow it on the page meanwhile
        var options = JSON.parse(link.getAttribute("data-options") || "{}");
        notice("Starting " + label + " again with the same options…");
        hubApi("POST", "users/" + enc(user) + "/servers/" + enc(name), options).then(
          function () { schedule(100); },
          function (e) { notice(e.message || String(e), "danger"); schedule(100); }
        );
        setTimeout(function () { schedule(0); }, 400);
      } else if (action === "ssh") {
        var command = await sshCommand(user, name);
        var copied = await copy(command);
        notice((copied ? "Copied: " : "The ssh command: ") + command, "success");
      }
    } catch (e) {
      console.error("jupyterhub-sessions dashboard:", action, e);
      notice(e.message || String(e), "danger");
    } finally {
      busy--;
      link.classList.remove("disabled");
    }
    schedule(action === "ssh" ? undefined : 300);
  }

  /* ---- sharing (the hub's shares API; the owner's own scopes) -------------------------------- */
  var sharing = null;
  function shareMessage(text, kind) {
    var box = $("#jhs-share-message");
    box.innerHTML = "";
    if (!text) return;
    var div = document.createElement("div");
    div.className = "alert py-2 small alert-" + (kind || "info");
    div.textContent = text;
    box.appendChild(div);
  }
  function explainShareError(message, kind, who) {
    if (/^No such user/.test(message || "")) {
      return who + " has never logged in to this hub, so sessions can't be shared with them by name yet. " +
        "Create a share link below and send it to them (they log in when they open it), " +
        "or ask them to log in once and share again.";
    }
    if (/^No such group/.test(message || "")) return "There is no group called " + who + " on this hub.";
    return message;
  }
  async function loadShares() {
    var list = $("#jhs-share-list");
    list.innerHTML = "";
    var data = await hubApi("GET", "shares/" + enc(sharing.user) + "/" + enc(sharing.name));
    var items = data.items || [];
    if (!items.length) {
      var li = document.createElement("li");
      li.className = "list-group-item text-body-secondary";
      li.textContent = "Only you.";
      list.appendChild(li);
    }
    items.forEach(function (share) {
      var who = share.kind === "group" ? share.group.name : share.user.name;
      var li = document.createElement("li");
      li.className = "list-group-item";
      li.setAttribute("data-share", share.kind + ":" + who);
      var span = document.createElement("span");
      span.textContent = (share.kind === "group" ? "group " : "") + who;
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "btn btn-sm btn-outline-danger";
      btn.textContent = "Revoke";
      btn.onclick = async function () {
        var body = {}; body[share.kind] = who;
        try {
          await hubApi("PATCH", "shares/" + enc(sharing.user) + "/" + enc(sharing.name), body);
          shareMessage("Revoked " + who + ".", "success");
          await loadShares();
        } catch (e) { shareMessage(e.message, "danger"); }
      };
      li.appendChild(span);
      li.appendChild(btn);
      list.appendChild(li);
    });
  }
  function openShare(link) {
    var tr = rowOf(link);
    sharing = { user: tr.getAttribute("data-user"), name: tr.getAttribute("data-session") };
    $("#jhs-share-title").textContent = "Share “" + sharing.name + "”";
    $("#jhs-share-name").value = "";
    $("#jhs-share-link-box").classList.add("d-none");
    shareMessage("");
    bootstrap.Modal.getOrCreateInstance($("#jhs-share-dialog")).show();
    loadShares().catch(function (e) { shareMessage(e.message, "danger"); });
  }
  function wireShareDialog() {
    var form = $("#jhs-share-form");
    if (!form || form.getAttribute("data-wired")) return;
    form.setAttribute("data-wired", "1");
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      var kind = $("#jhs-share-kind").value, who = $("#jhs-share-name").value.trim();
      if (!who) return;
      var body = {}; body[kind] = who;
      try {
        await hubApi("POST", "shares/" + enc(sharing.user) + "/" + enc(sharing.name), body);
        shareMessage("Shared with " + (kind === "group" ? "group " : "") + who + ". It appears under “Shared with me” for them.", "success");
        $("#jhs-share-name").value = "";
        await loadShares();
      } catch (err) {
        shareMessage(explainShareError(err.message, kind, who), "warning");
      }
    });
    $("#jhs-share-link").addEventListener("click", async function () {
      try {
        var code = await hubApi("POST", "share-codes/" + enc(sharing.user) + "/" + enc(sharing.name), { expires_in: 86400 });
        var url = new URL(code.accept_url, window.location.href).toString();
        $("#jhs-share-link-url").value = url;
        $("#jhs-share-link-box").classList.remove("d-none");
        var copied = await copy(url);
        shareMessage((copied ? "Link copied. " : "") + "It works for 24 hours; whoever opens it sees the session under “Shared with me”.", "success");
      } catch (err) { shareMessage(err.message, "danger"); }
    });
    $("#jhs-share-link-copy").addEventListener("click", function () { copy($("#jhs-share-link-url").value); });
    $("#jhs-share-dialog").addEventListener("hidden.bs.modal", function () { schedule(100); });
  }

  /* ---- wiring ------------------------------------------------------------------------------- */
  function enhance() {
    setSkew();
    localTimes($("#jhs-dashboard"));
    tick();
    followProgress();
    applyFilter();
    wireShareDialog();
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest("#jhs-dashboard [data-jhs-action]");
    if (!link) return;
    var action = link.getAttribute("data-jhs-action");
    if (action === "open") return; // a plain link
    if (action === "ssh" && !cfg.ssh_prefix) return;
    e.preventDefault();
    if (action === "share") return openShare(link);
    act(link);
  });
  document.addEventListener("submit", function (e) {
    if (e.target.id !== "jhs-new-form") return;
    e.preventDefault();
    var name = $("#jhs-new-name").value.trim();
    if (!NAME_RE.test(name)) {
      notice("“" + name + "” is not a valid session name: 1-30 lowercase letters, digits and single hyphens, starting with a letter.", "danger");
      return;
    }
    window.location.href = cfg.hub_prefix + "spawn/" + enc(cfg.user) + "/" + name;
  });
  document.addEventListener("input", function (e) { if (e.target.closest("#jhs-admin-filter")) applyFilter(); });
  document.addEventListener("change", function (e) { if (e.target.closest("#jhs-admin-filter")) applyFilter(); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(200); });
  lastHtml = ($("#jhs-dashboard") || {}).innerHTML;
  enhance();
  setInterval(tick, 1000);
  setInterval(function () { localTimes($("#jhs-dashboard")); }, 60000);
  schedule();
})();
{% endraw %}
