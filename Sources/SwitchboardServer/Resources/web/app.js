// The Connections page: reads and changes connections through the same API as every client.
"use strict";

const api = "/api/integrations/connections";
const state = { page: 0, pageSize: 20, status: "", kinds: [], selected: null };
const $ = (selector) => document.querySelector(selector);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function say(text, kind) {
  const message = $("#message");
  message.textContent = text;
  message.className = kind || "";
}

// The API token lives in this tab's session storage only.
const tokenKey = "switchboard.token";

function showSignIn(reason) {
  $("#sign-in").hidden = false;
  $("#sign-in [name=token]").focus();
  if (reason) say(reason, "error");
}

// Every error the API returns is an RFC 9457 problem; show its detail.
async function request(path, options = {}) {
  const headers = options.body ? { "Content-Type": "application/json" } : {};
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    sessionStorage.removeItem(tokenKey);
    showSignIn(`Sign in: ${body && body.detail ? body.detail : "a token is needed"}.`);
  }
  if (!response.ok) {
    const error = new Error(body && body.detail ? body.detail : `HTTP ${response.status}`);
    error.problem = body;
    throw error;
  }
  return body;
}

function statusClass(status) {
  return "status " + status.replace(" ", "-");
}

async function loadConnections() {
  const query = new URLSearchParams({ page: state.page, pageSize: state.pageSize, order: $("#order").value });
  const search = $("#search").value.trim();
  if (search) query.set("search", search);
  if ($("#kind-filter").value) query.append("kind", $("#kind-filter").value);
  if (state.status) query.append("status", state.status);
  const page = await request(`${api}?${query}`);
  renderSummary(page.statusSummary || {});
  renderRows(page.connections);
  const pages = Math.max(1, Math.ceil(page.totalCount / page.pageSize));
  $("#page-info").textContent = `Page ${page.page + 1} of ${pages} · ${page.totalCount} connections`;
  $("#prev").disabled = page.page === 0;
  $("#next").disabled = page.page + 1 >= pages;
  $("#empty").hidden = page.connections.length > 0;
  for (const connection of page.connections) rememberKind(connection.kind);
}

function renderSummary(summary) {
  const container = $("#summary");
  container.replaceChildren();
  const all = element("button", `all · ${Object.values(summary).reduce((a, b) => a + b, 0)}`, "chip");
  all.setAttribute("aria-pressed", String(state.status === ""));
  all.onclick = () => { state.status = ""; state.page = 0; refresh(); };
  container.append(all);
  const statuses = ["discovered", "registered", "connected", "ignored", "maintenance", "disconnected", "not found", "deleted"];
  for (const status of statuses) {
    if (!summary[status] && state.status !== status && status !== "deleted") continue;
    const chip = element("button", `${status} · ${summary[status] || 0}`, "chip");
    chip.dataset.status = status;
    chip.setAttribute("aria-pressed", String(state.status === status));
    chip.onclick = () => { state.status = status; state.page = 0; refresh(); };
    container.append(chip);
  }
}

function renderRows(connections) {
  const body = $("#connections tbody");
  body.replaceChildren();
  for (const connection of connections) {
    const row = element("tr");
    row.dataset.id = connection.id;
    if (state.selected === connection.id) row.classList.add("selected");
    const name = element("td");
    const link = element("a", connection.name);
    link.href = "#";
    link.onclick = (event) => { event.preventDefault(); showHistory(connection); };
    name.append(link);
    const status = element("td");
    status.append(element("span", connection.status, statusClass(connection.status)));
    const moves = element("td", undefined, "moves");
    for (const move of (connection.transitionMap || {})[connection.status] || []) {
      const button = element("button", move.nextState);
      button.type = "button";
      button.title = move.description || "";
      button.dataset.next = move.nextState;
      button.onclick = () => transition(connection, move.nextState);
      moves.append(button);
    }
    row.append(name, element("td", connection.kind), status, element("td", connection.url || "", "url"),
      element("td", new Date(connection.updatedAt).toLocaleString()), moves);
    body.append(row);
  }
}

async function transition(connection, next) {
  if (next === "deleted" && !confirm(`Delete ${connection.name}? Its collected data is purged.`)) return;
  say(`Moving ${connection.name} to ${next}…`);
  try {
    const moved = await request(`${api}/${connection.id}/transitions`, {
      method: "POST", body: JSON.stringify({ status: next, reason: "from the web page" }),
    });
    say(`${moved.name} is now ${moved.status}.`, "ok");
  } catch (error) {
    say(error.message, "error");
  }
  await refresh();
}

async function showHistory(connection) {
  state.selected = connection.id;
  const page = await request(`${api}/${connection.id}/events?pageSize=100`);
  $("#history-name").textContent = connection.name;
  const body = $("#history tbody");
  body.replaceChildren();
  for (const event of page.events) {
    const row = element("tr");
    row.append(element("td", new Date(event.createdAt).toLocaleString()), element("td", event.from || "—"),
      element("td", event.to), element("td", event.actor), element("td", event.reason || ""));
    body.append(row);
  }
  $("#history").hidden = false;
  await refresh();
}

const knownKinds = new Set(["kubernetes", "prometheus", "grafana", "helm", "meshery", "http"]);
function rememberKind(kind) {
  if (knownKinds.has(kind)) return;
  knownKinds.add(kind);
  fillKinds();
}

function fillKinds() {
  for (const select of [$("#kind-filter"), $("#create-kind")]) {
    const current = select.value;
    const keep = select.id === "kind-filter" ? [select.options[0]] : [];
    select.replaceChildren(...keep);
    for (const kind of [...knownKinds].sort()) select.append(new Option(kind, kind));
    select.value = current;
  }
}

async function refresh() {
  try {
    await loadConnections();
  } catch (error) {
    say(error.message, "error");
  }
}

function setUp() {
  fillKinds();
  $("#sign-in").onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(tokenKey, new FormData(event.target).get("token").trim());
    event.target.reset();
    $("#sign-in").hidden = true;
    say("");
    refresh();
  };
  let timer;
  $("#search").oninput = () => { clearTimeout(timer); timer = setTimeout(() => { state.page = 0; refresh(); }, 250); };
  $("#kind-filter").onchange = () => { state.page = 0; refresh(); };
  $("#order").onchange = () => refresh();
  $("#prev").onclick = () => { state.page = Math.max(0, state.page - 1); refresh(); };
  $("#next").onclick = () => { state.page += 1; refresh(); };
  $("#new-connection").onclick = () => { $("#create-form").hidden = false; $("#create-form [name=name]").focus(); };
  $("#cancel-create").onclick = () => { $("#create-form").hidden = true; };
  $("#create-form").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const payload = { name: form.get("name"), kind: form.get("kind"), status: form.get("status") };
    if (form.get("url")) payload.url = form.get("url");
    try {
      const created = await request(api, { method: "POST", body: JSON.stringify(payload) });
      say(`Created ${created.name} (${created.status}).`, "ok");
      event.target.reset();
      $("#create-form").hidden = true;
    } catch (error) {
      say(error.message, "error");
    }
    refresh();
  };
  refresh();
}

setUp();
