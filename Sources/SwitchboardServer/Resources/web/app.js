// Switchboard's web page: connections, kubeconfig import, environments and credentials,
// through the same API as every other client. Plain DOM code; API data only ever reaches
// the page through textContent and attributes, never as HTML.
"use strict";

const API = "/api/integrations/connections";
const STATUSES = ["discovered", "registered", "connected", "ignored", "maintenance", "disconnected", "not found", "deleted"];
const BULK_TARGETS = ["registered", "connected", "maintenance", "disconnected", "ignored", "deleted"];
const KNOWN_KINDS = ["kubernetes", "prometheus", "grafana", "helm", "meshery", "http"];
const KIND_LETTERS = { kubernetes: "K8", prometheus: "Pm", grafana: "Gf", helm: "Hm", meshery: "Ms", http: "Ht" };
const ROUTES = ["connections", "import", "environments", "credentials"];
const TOKEN_KEY = "switchboard.token";
const NOTICE_KEY = "switchboard.signInNotice"; // what the sign-in form says once after a sign-out reload
const DANGEROUS = ["deleted", "ignored", "disconnected"];
const PAGE_SIZE_MAX = 100; // the API's largest page
const STREAM_SILENCE_MS = 45000; // the server sends a keep-alive every 15 s

// What a move means beyond the lifecycle's one-line description, shown before it is made.
const CONSEQUENCES = {
  deleted: "It becomes a tombstone for good: its session stops, its collected data is purged and it can never change again. Its history stays readable.",
  ignored: "Its session stops and nothing checks it any more; collected data is kept. It comes back only when someone registers it again.",
  disconnected: "Switchboard stops managing it: the session stops and it is no longer checked until someone reconnects it.",
  maintenance: "Its session stops and it is not checked while in maintenance.",
  registered: "The target is verified first; if it cannot be reached the move fails.",
  connected: "The target is verified first; if it cannot be reached the move fails. A session then collects data while it stays connected.",
};

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

// ---------------------------------------------------------------------------
// Small helpers

// Characters that would hide or disguise text another user wrote: C0 and C1 controls
// (but tab, line feed and carriage return, which HTML shows as spaces) and the bidirectional
// embeddings, overrides and isolates that could show "admin\u202Egnp.exe" as "adminexe.png".
const HIDDEN_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g;

/** Text as it may be shown: each hidden character marked visibly, e.g. ⟨U+202E⟩. */
function visible(text) {
  return String(text).replace(HIDDEN_CHARACTERS, (c) => `⟨U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}⟩`);
}

/** A user's text inside a sentence: marked visibly and isolated (as <bdi> would), so a
 * right-to-left name cannot reorder the words around it. */
function userText(text) {
  return `\u2068${visible(text)}\u2069`;
}

/** Sets an element's text to a user's text: marked visibly, its direction its own. */
function setUserText(node, text) {
  node.textContent = visible(text);
  node.dir = "auto";
}

/** Creates an element. `text` sets textContent (marked visibly and isolated: it may be a
 * user's), `dataset` data attributes, `on…` listeners; other keys are attributes. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") setUserText(node, value);
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

function textButton(text, onclick, props = {}) {
  return el("button", { type: "button", text, onclick, ...props });
}

function say(text, kind = "", { network = false } = {}) {
  const message = $("#message");
  message.textContent = text;
  message.className = kind;
  message.dataset.network = String(network);
}

function statusChip(status) {
  return el("span", { className: "status-chip", dataset: { status }, text: status });
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
function ago(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, "second"], [60, "minute"], [24, "hour"], [30, "day"], [12, "month"], [Infinity, "year"]];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return "";
}

function timeElement(iso) {
  if (!iso) return el("span", { text: "—" });
  return el("time", { datetime: iso, title: new Date(iso).toLocaleString(), text: ago(iso) });
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

// ---------------------------------------------------------------------------
// API access. Every error is an RFC 9457 problem; its `detail` is what people read.

class ApiError extends Error {
  constructor(message, status, problem) {
    super(message);
    this.status = status;
    this.problem = problem || {};
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authHeaders(extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  return headers;
}

async function readProblem(response) {
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { detail: text.slice(0, 300) }; }
}

/** Calls the API; `json` sends a JSON body, `form` a multipart FormData. Resolves to the parsed body (or null). */
async function request(path, { method = "GET", json, form } = {}) {
  const sentToken = token();
  const headers = authHeaders(json !== undefined ? { "Content-Type": "application/json" } : {});
  const body = json !== undefined ? JSON.stringify(json) : form;
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch (error) {
    throw new ApiError(`The server did not answer (${error.message}).`, 0);
  }
  const parsed = await readProblem(response);
  if (response.status === 401 && sentToken === token()) signOut(parsed?.detail || "a token is needed");
  if (!response.ok) throw new ApiError(parsed?.detail || `HTTP ${response.status}`, response.status, parsed);
  return parsed;
}

/** Every item of a paged list (`key` names the array): pages of 100 until `totalCount` is reached. */
async function requestAll(path, key) {
  const separator = path.includes("?") ? "&" : "?";
  const items = [];
  const seen = new Set();
  for (let page = 0; ; page++) {
    const answer = await request(`${path}${separator}page=${page}&pageSize=${PAGE_SIZE_MAX}`);
    const batch = answer?.[key] || [];
    for (const item of batch) {
      if (seen.has(item.id)) continue; // the list moved under us between two pages
      seen.add(item.id);
      items.push(item);
    }
    const total = answer?.totalCount ?? 0;
    if (batch.length < PAGE_SIZE_MAX || (page + 1) * PAGE_SIZE_MAX >= total) return items;
  }
}

function report(error) {
  if (error instanceof ApiError && error.status === 401) return; // the sign-in form says it
  say(error.message, "error", { network: error instanceof ApiError && error.status === 0 });
}

// ---------------------------------------------------------------------------
// Sign-in. The token lives in this tab's session storage only.

function isSignedIn() {
  return document.body.dataset.auth === "in";
}

function showSignIn(problem) {
  document.body.dataset.auth = "out";
  for (const view of $$(".view")) view.hidden = true;
  $("#sign-out").hidden = true;
  $("#sign-in").hidden = false;
  const error = $("#sign-in-error");
  error.hidden = !problem;
  error.textContent = problem ? `Sign in again: ${problem}.` : "";
  $("#sign-in [name=token]").focus();
}

function startSession() {
  document.body.dataset.auth = "in";
  $("#sign-in").hidden = true;
  $("#sign-in-error").hidden = true;
  $("#sign-out").hidden = false;
  say("");
  refreshEnvironmentCache().then(() => showRoute());
  openStream();
}

let signingOut = false;

// Signing out (or a 401) forgets the token and reloads the page, so nothing of the previous
// user's session survives: no results, drawer, detail, selection, pending refresh or stream.
// The reason is kept in session storage for one showing of the sign-in form.
function signOut(problem) {
  if (signingOut) return;
  signingOut = true;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.setItem(NOTICE_KEY, JSON.stringify(problem ? { problem } : { notice: "Signed out." }));
  closeStream();
  document.body.dataset.auth = "out";
  $("#content").hidden = true; // nothing of the old session shows until the page is back
  $("#drawer").hidden = true;
  if ($("#confirm").open) $("#confirm").close("cancel");
  location.reload();
}

/** The notice a sign-out left for the sign-in form, shown once. */
function takeSignInNotice() {
  const stored = sessionStorage.getItem(NOTICE_KEY);
  sessionStorage.removeItem(NOTICE_KEY);
  if (!stored) return {};
  try { return JSON.parse(stored) || {}; } catch { return {}; }
}

// A reload may bring back what was typed in the previous session (the browser restores form
// fields): put every control back to what the page itself says.
function resetControls() {
  for (const form of $$("form")) form.reset();
  for (const control of $$("input, textarea")) {
    if (control.type === "checkbox" || control.type === "radio") control.checked = control.defaultChecked;
    else if (control.type === "file") control.value = "";
    else control.value = control.defaultValue;
  }
  for (const select of $$("select")) {
    for (const option of select.options) option.selected = option.defaultSelected;
  }
}

function setUpSignIn() {
  $("#sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = new FormData(event.target).get("token").trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    event.target.reset();
    startSession();
  });
  $("#sign-out").addEventListener("click", () => signOut());
}

// ---------------------------------------------------------------------------
// Hash routes: #/connections (default), #/import, #/environments, #/credentials.

function currentRoute() {
  const name = location.hash.replace(/^#\/?/, "").split("/")[0];
  return ROUTES.includes(name) ? name : "connections";
}

function showRoute({ moveFocus = false } = {}) {
  if (!isSignedIn()) return;
  const route = currentRoute();
  for (const link of $$("header nav a")) {
    if (link.dataset.route === route) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const view of $$(".view")) view.hidden = view.dataset.view !== route;
  closeStatusMenu();
  if (route !== "connections") closeDrawer({ restoreFocus: false });
  const heading = $(`#view-${route} h1`);
  document.title = `Switchboard · ${heading.textContent}`;
  if (moveFocus && !(route === "connections" && drawer.pendingId)) { heading.tabIndex = -1; heading.focus(); }
  if (route === "connections" && drawer.pendingId) {
    openDrawer(drawer.pendingId, null);
    drawer.pendingId = null;
  }
  const loaders = { connections: loadConnections, environments: loadEnvironments, credentials: loadCredentials, import: () => {} };
  loaders[route]();
}

// ---------------------------------------------------------------------------
// Connections table

const connections = {
  page: 0, pageSize: 20, sort: "updatedAt", direction: "desc",
  search: "", kind: "", status: "", environment: "",
  rows: new Map(), // id → connection on the page shown
  selected: new Set(),
  ticket: 0, // only the latest load may render
};
const knownKinds = new Set(KNOWN_KINDS);

// URLSearchParams writes spaces as "+" (a literal plus as %2B); spell spaces %20, which every reader takes as a space.
function queryString(query) {
  return String(query).replace(/\+/g, "%20");
}

function filterQuery() {
  const query = new URLSearchParams();
  if (connections.search) query.set("search", connections.search);
  if (connections.kind) query.set("kind", connections.kind);
  if (connections.environment) query.set("environment", connections.environment);
  return query;
}

function pageQuery() {
  const query = filterQuery();
  query.set("page", connections.page);
  query.set("pageSize", connections.pageSize);
  query.set("order", `${connections.sort} ${connections.direction}`);
  if (connections.status) query.set("status", connections.status);
  return query;
}

// The counters ignore the status filter (they are how one picks it) and include tombstones.
function summaryQuery() {
  const query = filterQuery();
  query.set("pageSize", 1);
  query.set("status", STATUSES.join(","));
  return query;
}

async function loadConnections() {
  if (!isSignedIn()) return;
  const ticket = ++connections.ticket;
  try {
    const [page, summary] = await Promise.all([
      request(`${API}?${queryString(pageQuery())}`), request(`${API}?${queryString(summaryQuery())}`),
    ]);
    if (ticket !== connections.ticket) return;
    const lastPage = Math.max(0, Math.ceil(page.totalCount / page.pageSize) - 1);
    if (connections.page > lastPage) { connections.page = lastPage; return loadConnections(); }
    for (const connection of page.connections) learnKind(connection.kind);
    renderSummary(summary.statusSummary || {});
    renderRows(page.connections);
    renderPager(page);
  } catch (error) {
    if (ticket === connections.ticket) report(error);
  }
}

function renderSummary(summary) {
  const buttons = [];
  const live = STATUSES.filter((status) => status !== "deleted").reduce((sum, status) => sum + (summary[status] || 0), 0);
  const all = el("button", { type: "button", "aria-pressed": String(connections.status === ""), onclick: () => setStatusFilter("") },
    el("span", { text: "All" }), " ", el("span", { className: "count", text: String(live) }));
  buttons.push(all);
  for (const status of STATUSES) {
    const count = summary[status] || 0;
    buttons.push(el("button", {
      type: "button", dataset: { status }, "aria-pressed": String(connections.status === status),
      title: `Show only ${status} connections`,
      onclick: () => setStatusFilter(connections.status === status ? "" : status),
    }, el("span", { className: "dot", dataset: { status } }), el("span", { text: status }), " ", el("span", { className: "count", text: String(count) })));
  }
  $("#summary").replaceChildren(...buttons);
}

function setStatusFilter(status) {
  connections.status = status;
  $("#status-filter").value = status;
  connections.page = 0;
  loadConnections();
}

function renderRows(list) {
  const body = $("#connections tbody");
  const focus = rememberFocus(body);
  connections.rows = new Map(list.map((connection) => [connection.id, connection]));
  for (const id of [...connections.selected]) if (!connections.rows.has(id)) connections.selected.delete(id);
  body.replaceChildren(...list.map(connectionRow));
  restoreFocus(body, focus);
  $("#empty").hidden = list.length > 0;
  updateSelectionUI();
}

function connectionRow(connection) {
  const selected = connections.selected.has(connection.id);
  const row = el("tr", { dataset: { id: connection.id } });
  row.classList.toggle("is-selected", selected);
  row.classList.toggle("is-open", drawer.id === connection.id);
  const checkbox = el("input", { type: "checkbox", className: "row-select", "aria-label": `Select ${userText(connection.name)}` });
  checkbox.checked = selected;
  checkbox.addEventListener("change", () => toggleSelected(connection.id, checkbox.checked));
  // The c-* classes place each cell when narrow screens show rows as cards.
  row.append(
    el("td", { className: "select-col c-select" }, checkbox),
    el("td", { className: "c-name" },
      textButton(connection.name, (event) => openDrawer(connection.id, event.currentTarget), { className: "open-drawer" }),
      connection.url ? el("span", { className: "sub", text: connection.url }) : null),
    el("td", { className: "c-kind" }, kindLabel(connection.kind)),
    el("td", { className: "category c-category" }, categoryLabel(connection)),
    el("td", { className: "c-status" }, statusChip(connection.status)),
    el("td", { className: "c-health" }, healthLabel(connection.health)),
    el("td", { className: "c-env" }, ...environmentTags(connection.environments)),
    el("td", { className: "updated c-updated" }, timeElement(connection.updatedAt)),
    el("td", { className: "c-actions" }, statusMenuButton(connection)),
  );
  return row;
}

function kindLabel(kind) {
  const letters = KIND_LETTERS[kind] || (kind.slice(0, 1).toUpperCase() + kind.slice(1, 2));
  return el("span", { className: "kind" },
    el("span", { className: "kind-badge", dataset: { kind }, "aria-hidden": "true", text: letters }),
    el("span", { text: kind }));
}

function categoryLabel(connection) {
  return el("span", {}, el("span", { text: connection.type || "—" }), el("span", { className: "sub", text: connection.subType || "" }));
}

function healthLabel(health = {}) {
  const state = health.state || "unknown";
  const parts = [];
  if (health.lastError) parts.push(`Last error: ${health.lastError}`);
  if (health.checkedAt) {
    const latency = health.latencyMs != null ? ` in ${Math.round(health.latencyMs)} ms` : "";
    parts.push(`Checked ${new Date(health.checkedAt).toLocaleString()}${latency}`);
  }
  else parts.push("Not checked yet");
  if (health.consecutiveFailures) parts.push(`${plural(health.consecutiveFailures, "failed check")} in a row`);
  return el("span", { className: "health", title: parts.join("\n") },
    el("span", { className: "dot", dataset: { health: state }, "aria-hidden": "true" }), el("span", { text: state }));
}

// A connection's environments are Meshery's Environment objects: their own names show.
function environmentTags(environments = []) {
  if (environments.length === 0) return [el("span", { className: "muted", text: "—" })];
  return environments.map((environment) =>
    el("span", { className: "tag", title: environment.id, text: visible(environment.name || environment.id.slice(0, 8)) }));
}

function renderPager(page) {
  const pages = Math.max(1, Math.ceil(page.totalCount / page.pageSize));
  $("#page-info").textContent = `Page ${page.page + 1} of ${pages} · ${plural(page.totalCount, "connection")}`;
  $("#prev").disabled = page.page === 0;
  $("#next").disabled = page.page + 1 >= pages;
}

function renderSortHeaders() {
  for (const button of $$("#connections th button[data-sort]")) {
    const sorted = button.dataset.sort === connections.sort;
    button.closest("th").setAttribute("aria-sort", sorted ? (connections.direction === "asc" ? "ascending" : "descending") : "none");
  }
}

function sortBy(field) {
  if (connections.sort === field) connections.direction = connections.direction === "asc" ? "desc" : "asc";
  else { connections.sort = field; connections.direction = field === "updatedAt" ? "desc" : "asc"; }
  connections.page = 0;
  renderSortHeaders();
  loadConnections();
}

function learnKind(kind) {
  if (!kind || knownKinds.has(kind)) return;
  knownKinds.add(kind);
  fillKindSelects();
}

function fillKindSelects() {
  const kinds = [...knownKinds].sort();
  const filter = $("#kind-filter");
  const current = filter.value;
  filter.replaceChildren(new Option("All kinds", ""), ...kinds.map((kind) => new Option(kind, kind)));
  filter.value = current;
  const create = $("#create-kind");
  const chosen = create.value;
  create.replaceChildren(...kinds.map((kind) => new Option(kind, kind)));
  if (chosen) create.value = chosen;
}

// Re-rendering replaces the rows; keep keyboard focus on the same control of the same row.
function rememberFocus(container) {
  const active = document.activeElement;
  const row = active && container.contains(active) ? active.closest("tr[data-id]") : null;
  return row ? { id: row.dataset.id, className: active.classList[0] } : null;
}

function restoreFocus(container, focus) {
  if (!focus || !focus.className) return;
  const target = $(`tr[data-id="${CSS.escape(focus.id)}"] .${CSS.escape(focus.className)}`, container);
  target?.focus({ preventScroll: true });
}

function rowControl(id, className) {
  return $(`#connections tbody tr[data-id="${CSS.escape(id)}"] .${className}`);
}

// ---------------------------------------------------------------------------
// Selection and bulk transitions

function toggleSelected(id, on) {
  if (on) connections.selected.add(id); else connections.selected.delete(id);
  $(`#connections tbody tr[data-id="${CSS.escape(id)}"]`)?.classList.toggle("is-selected", on);
  updateSelectionUI();
}

function selectAllOnPage(on) {
  for (const box of $$("#connections tbody input.row-select")) {
    box.checked = on;
    toggleSelected(box.closest("tr").dataset.id, on);
  }
  updateSelectionUI();
}

function updateSelectionUI() {
  const onPage = connections.rows.size;
  const count = connections.selected.size;
  const all = $("#select-all");
  all.checked = onPage > 0 && count === onPage;
  all.indeterminate = count > 0 && count < onPage;
  $("#bulk-bar").hidden = count === 0;
  $("#bulk-count").textContent = `${count} selected`;
}

function showBulkWarning() {
  const status = $("#bulk-status").value;
  const warning = $("#bulk-warning");
  const serious = DANGEROUS.includes(status);
  warning.hidden = !serious;
  warning.textContent = serious ? `Moving to ${status}: ${CONSEQUENCES[status]}` : "";
}

function bulkExplanation(names, status, reason) {
  const list = [...names.values()].map(userText);
  const shown = list.length > 10 ? `${list.slice(0, 10).join(", ")} and ${list.length - 10} more` : list.join(", ");
  const lines = [`${plural(list.length, "selected connection")} will be asked to move to ${status}: ${shown}. Any that cannot make this move is refused and stays as it is.`];
  if (CONSEQUENCES[status]) lines.push(`For each one moved: ${CONSEQUENCES[status]}`);
  if (reason) lines.push(`Reason: ${userText(reason)}`);
  return lines.join("\n\n");
}

async function applyBulk() {
  const ids = [...connections.selected];
  const status = $("#bulk-status").value;
  const reason = $("#bulk-reason").value.trim();
  if (ids.length === 0 || !status) return;
  const names = new Map(ids.map((id) => [id, connections.rows.get(id)?.name || id]));
  const apply = $("#bulk-apply");
  const confirmed = await confirmDialog({
    title: `Move ${plural(ids.length, "connection")} to ${status}?`,
    message: bulkExplanation(names, status, reason),
    okLabel: status === "deleted" ? `Delete ${plural(ids.length, "connection")}` : `Move ${plural(ids.length, "connection")}`,
    danger: DANGEROUS.includes(status),
    focusBack: () => apply,
  });
  if (!confirmed || !isSignedIn()) return;
  apply.disabled = true;
  say(`Moving ${plural(ids.length, "connection")} to ${status}…`);
  try {
    const answer = await request(`${API}/transitions`, { method: "POST", json: reason ? { ids, status, reason } : { ids, status } });
    renderBulkResults(answer, status, names);
    say(`${answer.succeeded} moved to ${status}, ${answer.failed} refused.`, answer.failed ? "error" : "ok");
    connections.selected.clear();
    $("#bulk-reason").value = "";
    loadConnections();
  } catch (error) {
    report(error);
  } finally {
    apply.disabled = false;
  }
  // The bulk bar hides once the selection is cleared: keep the focus somewhere useful.
  const active = document.activeElement;
  if (!$("#bulk-results-panel").hidden && (!active || active === document.body || $("#bulk-bar").hidden)) $("#bulk-results-title").focus();
}

function renderBulkResults(answer, status, names) {
  const items = answer.results.map((result) => {
    const moved = result.ok === true;
    const name = result.connection?.name || names.get(result.id) || result.id;
    const detail = moved ? `now ${result.status}` : (result.error?.detail || result.error?.title || "refused");
    return el("li", { dataset: { id: result.id, outcome: moved ? "moved" : "refused" } },
      el("strong", { text: name }),
      el("span", { className: "outcome", text: moved ? "moved" : "refused" }),
      result.status ? statusChip(result.status) : null,
      el("span", { className: "detail", text: detail }));
  });
  $("#bulk-results-summary").textContent = `Move to ${status}: ${answer.succeeded} moved, ${answer.failed} refused.`;
  $("#bulk-results").replaceChildren(...items);
  $("#bulk-results-panel").hidden = false;
}

// ---------------------------------------------------------------------------
// Status menu: one shared menu, filled with the moves transitionMap allows from here.

const menu = { opener: null, connection: null };

function movesOf(connection) {
  return (connection.transitionMap || {})[connection.status] || [];
}

function statusMenuButton(connection) {
  const moves = movesOf(connection);
  const button = el("button", {
    type: "button", className: "status-menu-button", "aria-haspopup": "menu", "aria-expanded": "false",
    "aria-label": `Move ${userText(connection.name)} to another status`, text: "Move ▾",
    disabled: moves.length === 0, title: moves.length === 0 ? `No moves from ${connection.status}` : null,
  });
  attachMenuButton(button, () => connections.rows.get(connection.id) || connection);
  return button;
}

function attachMenuButton(button, connectionOf) {
  button.addEventListener("click", () => {
    if (menu.opener === button) closeStatusMenu({ restoreFocus: true });
    else openStatusMenu(button, connectionOf(), "first");
  });
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      openStatusMenu(button, connectionOf(), event.key === "ArrowUp" ? "last" : "first");
    }
  });
}

function openStatusMenu(button, connection, focusWhich) {
  closeStatusMenu();
  if (!connection) return;
  const list = $("#status-menu");
  const moves = movesOf(connection);
  list.setAttribute("aria-label", `Move ${userText(connection.name)} to`);
  list.replaceChildren(...moves.map((move) => el("li", { role: "none" },
    el("button", {
      type: "button", role: "menuitem", tabindex: "-1", dataset: { status: move.nextState },
      onclick: () => chooseMove(connection, move, button),
    }, el("span", { className: "menu-label", text: move.nextState }), el("span", { className: "menu-hint", text: move.description })))));
  if (moves.length === 0) list.append(el("li", { role: "none", className: "menu-empty", text: `No moves from ${connection.status}` }));
  list.hidden = false;
  placeMenu(list, button);
  button.setAttribute("aria-expanded", "true");
  menu.opener = button;
  menu.connection = connection;
  const items = $$("[role=menuitem]", list);
  items[focusWhich === "last" ? items.length - 1 : 0]?.focus({ preventScroll: true });
}

function placeMenu(list, button) {
  const anchor = button.getBoundingClientRect();
  const box = list.getBoundingClientRect();
  const below = anchor.bottom + 4 + box.height <= window.innerHeight;
  list.style.top = `${Math.max(8, below ? anchor.bottom + 4 : anchor.top - box.height - 4)}px`;
  list.style.left = `${Math.min(Math.max(8, anchor.right - box.width), window.innerWidth - box.width - 8)}px`;
}

function closeStatusMenu({ restoreFocus: focusBack = false } = {}) {
  const list = $("#status-menu");
  if (list.hidden) return;
  list.hidden = true;
  list.replaceChildren();
  const opener = menu.opener;
  const connection = menu.connection;
  menu.opener = null;
  menu.connection = null;
  if (!opener) return;
  opener.setAttribute("aria-expanded", "false");
  // A live update may have redrawn the row while the menu was open.
  const target = opener.isConnected ? opener : connection && rowControl(connection.id, "status-menu-button");
  if (focusBack) target?.focus();
}

function onMenuKeydown(event) {
  const items = $$("[role=menuitem]", $("#status-menu"));
  const index = items.indexOf(document.activeElement);
  const moveTo = (next) => { event.preventDefault(); items[(next + items.length) % items.length]?.focus(); };
  switch (event.key) {
    case "ArrowDown": return moveTo(index + 1);
    case "ArrowUp": return moveTo(index - 1);
    case "Home": return moveTo(0);
    case "End": return moveTo(items.length - 1);
    case "Escape": event.preventDefault(); event.stopPropagation(); return closeStatusMenu({ restoreFocus: true });
    case "Tab": return closeStatusMenu({ restoreFocus: true });
    default: {
      // Typing a letter jumps to the next move starting with it.
      if (event.key.length !== 1) return;
      const letter = event.key.toLowerCase();
      const after = items.slice(index + 1).concat(items.slice(0, index + 1));
      const match = after.find((item) => item.dataset.status.startsWith(letter));
      if (match) { event.preventDefault(); match.focus(); }
    }
  }
}

// ---------------------------------------------------------------------------
// Confirmation dialog, shown for every move (and every deletion) before it is made.

const confirmState = { danger: false };

// For a dangerous step the focus starts on Cancel and Enter in the reason field does not
// confirm: only an explicit press of the confirm button does.
function confirmDialog({ title, message, okLabel = "Confirm", danger = false, withReason = false, focusBack }) {
  const dialog = $("#confirm");
  confirmState.danger = danger;
  $("#confirm-title").textContent = title;
  $("#confirm-message").textContent = message;
  $("#confirm-ok").textContent = okLabel;
  $("#confirm-ok").classList.toggle("danger", danger);
  $("#confirm-reason").value = "";
  $("#confirm-reason").hidden = !withReason;
  $("#confirm-reason-label").hidden = !withReason;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      resolve(ok ? { reason: $("#confirm-reason").value.trim() } : null);
      const target = focusBack?.();
      if (target?.isConnected) target.focus();
    }, { once: true });
    dialog.showModal();
    (danger ? $("#confirm-cancel") : withReason ? $("#confirm-reason") : $("#confirm-ok")).focus();
  });
}

function moveExplanation(connection, move) {
  const lines = [`${userText(connection.name)} (${connection.kind}) is ${connection.status}. ${move.description}.`];
  if (CONSEQUENCES[move.nextState]) lines.push(CONSEQUENCES[move.nextState]);
  return lines.join("\n\n");
}

async function chooseMove(connection, move, opener) {
  closeStatusMenu();
  const next = move.nextState;
  const answer = await confirmDialog({
    title: `Move ${userText(connection.name)} to ${next}?`,
    message: moveExplanation(connection, move),
    okLabel: next === "deleted" ? "Delete" : `Move to ${next}`,
    danger: DANGEROUS.includes(next),
    withReason: true,
    // The row may have been redrawn meanwhile: find its button again.
    focusBack: () => (opener.isConnected ? opener : rowControl(connection.id, "status-menu-button")),
  });
  if (answer) await moveConnection(connection, next, answer.reason);
}

async function moveConnection(connection, status, reason) {
  say(`Moving ${userText(connection.name)} to ${status}…`);
  try {
    const moved = await request(`${API}/${connection.id}/transitions`, { method: "POST", json: reason ? { status, reason } : { status } });
    say(`${userText(moved.name)} is now ${moved.status}.`, "ok");
  } catch (error) {
    report(error);
  }
  loadConnections();
  if (drawer.id === connection.id) loadDrawer();
}

// ---------------------------------------------------------------------------
// Drawer: one connection's details, metadata, collected data and history.

const drawer = { id: null, opener: null, connection: null, pendingId: null, ticket: 0 };
// Where the drawer covers the whole width it is modal: the page behind it is inert.
const narrowScreen = window.matchMedia("(max-width: 720px)");
const PAGE_BEHIND_DRAWER = [".skip-link", "header.top", "#stream-banner", "main"];

function updateDrawerModality() {
  const modal = !$("#drawer").hidden && narrowScreen.matches;
  for (const selector of PAGE_BEHIND_DRAWER) {
    const node = $(selector);
    if (!node) continue;
    if (modal) node.setAttribute("inert", ""); else node.removeAttribute("inert");
  }
  if (modal) $("#drawer").setAttribute("aria-modal", "true"); else $("#drawer").removeAttribute("aria-modal");
  if (modal) $("#drawer").setAttribute("role", "dialog"); else $("#drawer").removeAttribute("role");
  const active = document.activeElement;
  if (modal && active && active.closest(PAGE_BEHIND_DRAWER.join(","))) $("#drawer-title").focus();
}

function openDrawer(id, opener) {
  drawer.id = id;
  drawer.opener = opener || null;
  $("#drawer-ping-result").textContent = "";
  $("#drawer-ping-result").className = "";
  const cached = connections.rows.get(id);
  if (cached) renderDrawerConnection(cached);
  else $("#drawer-title").textContent = "Loading…";
  for (const row of $$("#connections tbody tr")) row.classList.toggle("is-open", row.dataset.id === id);
  $("#drawer").hidden = false;
  updateDrawerModality();
  $("#drawer-title").focus();
  loadDrawer();
}

function closeDrawer({ restoreFocus: focusBack = true } = {}) {
  if ($("#drawer").hidden) return;
  $("#drawer").hidden = true;
  updateDrawerModality(); // before the focus goes back into the page
  const id = drawer.id;
  drawer.id = null;
  for (const row of $$("#connections tbody tr.is-open")) row.classList.remove("is-open");
  if (!focusBack) return;
  const target = drawer.opener?.isConnected ? drawer.opener : rowControl(id, "open-drawer");
  target?.focus();
}

async function loadDrawer() {
  const id = drawer.id;
  if (!id) return;
  const ticket = ++drawer.ticket;
  const [connection, events, data] = await Promise.allSettled([
    request(`${API}/${id}`), request(`${API}/${id}/events?pageSize=50`), request(`${API}/${id}/data`),
  ]);
  if (ticket !== drawer.ticket || drawer.id !== id) return;
  if (connection.status === "fulfilled") renderDrawerConnection(connection.value);
  else return report(connection.reason);
  renderDrawerEvents(events);
  renderDrawerData(data);
}

function renderDrawerConnection(connection) {
  drawer.connection = connection;
  setUserText($("#drawer-title"), connection.name);
  $("#drawer-status-menu").disabled = movesOf(connection).length === 0;
  const health = connection.health || {};
  const facts = [
    ["Name", connection.name],
    ["Status", statusChip(connection.status)],
    ["Kind", kindLabel(connection.kind)],
    ["Category", `${connection.type || "—"} · ${connection.subType || "—"}`],
    ["URL", connection.url || "—"],
    ["Description", connection.description || null],
    ["Health", healthLabel(health)],
    // A server registered here: heartbeats keep its lease.
    ["Lease", connection.lease ? leaseText(connection.lease) : null],
    ["Last heartbeat", connection.lease ? (connection.lease.lastHeartbeatAt ? timeElement(connection.lease.lastHeartbeatAt) : "never") : null],
    ["Last error", health.lastError || null],
    // A registered server is not checked: its last heartbeat (above) is its check.
    ["Last check", connection.lease ? null : health.checkedAt ? timeElement(health.checkedAt) : "never"],
    ["Environments", el("span", {}, ...environmentTags(connection.environments))],
    ["Credential", connection.credentialId || null],
    ["Created", timeElement(connection.createdAt)],
    ["Updated", timeElement(connection.updatedAt)],
    ["Deleted", connection.deletedAt ? timeElement(connection.deletedAt) : null],
    ["Fingerprint", connection.fingerprint || null],
    ["Version", String(connection.version)],
    ["Id", connection.id],
  ];
  renderFacts($("#drawer-details .facts"), facts.filter(([, value]) => value !== null));
  const metadata = Object.entries(connection.metadata || {}).map(([key, value]) =>
    [key, typeof value === "string" ? value : JSON.stringify(value)]);
  renderFacts($("#drawer-metadata .facts"), metadata.length ? metadata : [["", "No metadata."]]);
}

function leaseText(lease) {
  const words = { alive: "alive: heartbeats arrive", lapsed: "lapsed", none: "none yet: no heartbeat so far" };
  return `${words[lease.state] || lease.state}${lease.state === "lapsed" && lease.lastError ? ` (${lease.lastError})` : ""}`;
}

// What a registered server's latest heartbeat said about its own connections.
function spokeSummary(report) {
  const summary = report.summary || {};
  const counts = Object.entries(summary.byStatus || {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => `${status} ${count}`).join(", ");
  return `Spoke ${report.version ? `version ${report.version}` : "(version unknown)"}: ${plural(summary.totalCount || 0, "connection")}${counts ? ` (${counts})` : ""}`;
}

function renderFacts(list, facts) {
  list.replaceChildren(...facts.flatMap(([label, value]) => [
    el("dt", { text: label }), typeof value === "string" ? el("dd", { text: value }) : el("dd", {}, value),
  ]));
}

function renderDrawerData(result) {
  const box = $("#drawer-data .data-items");
  if (result.status === "rejected") return box.replaceChildren(el("p", { className: "error", text: result.reason.message }));
  const items = Object.entries(result.value.items || {});
  if (items.length === 0) {
    return box.replaceChildren(el("p", { className: "muted", text: "Nothing collected. A session collects data while the connection is connected." }));
  }
  box.replaceChildren(...items.map(([name, item]) => {
    const value = item.value;
    const size = Array.isArray(value) ? plural(value.length, "item") : value && typeof value === "object" ? plural(Object.keys(value).length, "entry") : "";
    let text = JSON.stringify(value, null, 2) ?? "";
    if (text.length > 20000) text = `${text.slice(0, 20000)}\n… (cut)`;
    const spoke = name === "heartbeat" && value && typeof value === "object" && value.summary
      ? el("p", { className: "spoke-summary", text: spokeSummary(value) }) : null;
    return el("div", { className: "data-item" },
      el("h4", { text: name }),
      spoke,
      el("span", { className: "muted" }, document.createTextNode(`${size ? `${size} · ` : ""}collected `), timeElement(item.collectedAt)),
      el("pre", { text }));
  }));
}

function renderDrawerEvents(result) {
  const list = $("#drawer-events .events");
  if (result.status === "rejected") return list.replaceChildren(el("li", { className: "error", text: result.reason.message }));
  const { events, totalCount } = result.value;
  $("#drawer-events-title").textContent = events.length < totalCount ? `History (latest ${events.length} of ${totalCount})` : "History";
  list.replaceChildren(...events.map((event) => el("li", { dataset: { sequence: event.sequence } },
    el("div", { className: "move" },
      event.from === null ? el("span", { text: "created as" }) : event.from === event.to ? el("span", { text: "unchanged" }) : statusChip(event.from),
      event.from !== null && event.from !== event.to ? el("span", { "aria-label": "to", text: "→" }) : null,
      statusChip(event.to)),
    el("div", { className: "meta" }, timeElement(event.createdAt),
      ` · ${event.actor}${event.actorRole === "system" ? " (system)" : ""}`),
    event.reason ? el("div", { className: "reason", text: event.reason }) : null)));
}

async function pingDrawerConnection() {
  const id = drawer.id;
  const button = $("#drawer-ping");
  const output = $("#drawer-ping-result");
  button.disabled = true;
  output.className = "";
  output.textContent = "Checking…";
  try {
    const ping = await request(`${API}/${id}/ping`, { method: "POST" });
    if (drawer.id !== id) return;
    const details = Object.entries(ping.details || {}).map(([key, value]) => `${key} ${value}`);
    const parts = [ping.health, `${Math.round(ping.latencyMs)} ms`, ...details];
    if (ping.error) parts.push(ping.error);
    output.textContent = `Ping: ${parts.join(" · ")}`;
    output.className = ping.reachable ? "ok" : "error";
  } catch (error) {
    output.textContent = error.message;
    output.className = "error";
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Live updates: the change stream, read with fetch() because EventSource cannot send
// the Authorization header. Resumes after the last event id it saw.

const stream = { controller: null, lastEventId: null, retry: 1000, delay: 1000, wake: null, announce: null, events: 0 };
const pendingChanges = new Set();

// The banner is a polite status region. Its text changes only when the state does (once when
// the updates are lost); the countdown between tries is shown but hidden from screen readers.
function setStreamState(state) {
  const previous = document.body.dataset.stream;
  document.body.dataset.stream = state;
  if (state === previous) return;
  const banner = $("#stream-banner");
  const text = $("#stream-banner-text");
  clearTimeout(stream.announce);
  if (state === "lost") {
    banner.hidden = false;
    // Filled just after the region shows, so that screen readers hear the change (once).
    text.textContent = "";
    stream.announce = setTimeout(() => { text.textContent = "Live updates lost. Reconnecting automatically."; }, 100);
  } else {
    banner.hidden = true;
    text.textContent = "";
    setStreamCountdown("");
  }
}

function setStreamCountdown(text) {
  const countdown = $("#stream-banner-countdown");
  if (countdown.textContent !== text) countdown.textContent = text;
}

function openStream() {
  if (stream.controller) return;
  stream.controller = new AbortController();
  stream.delay = stream.retry;
  runStream(stream.controller.signal);
}

function closeStream() {
  stream.controller?.abort();
  stream.controller = null;
  stream.lastEventId = null;
  setStreamState("closed");
}

async function runStream(signal) {
  let wasLost = false;
  while (!signal.aborted) {
    // One attempt: ended by sign-out, or by the watchdog when even keep-alives stop coming.
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    signal.addEventListener("abort", stop, { once: true });
    let watchdog;
    const stillAlive = () => { clearTimeout(watchdog); watchdog = setTimeout(stop, STREAM_SILENCE_MS); };
    try {
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (stream.lastEventId) headers["Last-Event-ID"] = stream.lastEventId;
      stillAlive();
      const response = await fetch("/api/events/stream", { headers, signal: attempt.signal, cache: "no-store" });
      if (response.status === 401) {
        const problem = await readProblem(response);
        if (!signal.aborted) signOut(problem?.detail || "a token is needed");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setStreamState("open");
      stream.delay = stream.retry;
      if ($("#message").dataset.network === "true") say(""); // the server is back
      if (wasLost) refreshAfterChanges(); // whatever the server cannot replay is read again
      wasLost = false;
      await readEventStream(response.body, attempt.signal, {
        lastEventId: stream.lastEventId,
        onBytes: stillAlive,
        onMessage: (message) => { if (!signal.aborted) onStreamMessage(message); },
        onLastEventId: (id) => { if (!signal.aborted) stream.lastEventId = id; },
        onRetry: (ms) => { stream.retry = Math.min(Math.max(ms, 250), 30000); stream.delay = stream.retry; },
      });
    } catch {
      // a network error or a silent stream: reconnect below
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener("abort", stop);
    }
    if (signal.aborted) return;
    wasLost = true;
    await waitBeforeReconnect(signal);
  }
}

async function waitBeforeReconnect(signal) {
  setStreamState("lost");
  const wake = new AbortController(); // "Reconnect now" and sign-out cut the wait short
  const stop = () => wake.abort();
  stream.wake = wake;
  signal.addEventListener("abort", stop, { once: true });
  const until = Date.now() + stream.delay;
  const tick = () => setStreamCountdown(`Next try in ${Math.max(1, Math.ceil((until - Date.now()) / 1000))} s…`);
  tick();
  const ticker = setInterval(tick, 1000);
  await sleep(stream.delay, wake.signal);
  clearInterval(ticker);
  signal.removeEventListener("abort", stop);
  stream.wake = null;
  stream.delay = Math.min(stream.delay * 2, 30000);
  if (!signal.aborted) setStreamCountdown("Trying now…");
}

/**
 * Reads Server-Sent Events from a byte stream by the HTML standard's rules: one streaming
 * UTF-8 decoder (a character split across chunks survives); CRLF, LF and CR all end a line,
 * and a CR at the end of a chunk waits for the next one (its LF may follow there); the last
 * event id is recorded when an event is dispatched, at the blank line — also for a block
 * with an `id:` and no data, such as the one the server starts each stream with — and
 * carries over to later events; `retry:` sets the reconnection time. `onMessage` gets
 * {id, event, data} for each event with data. An event the stream ends in the middle of is
 * dropped.
 */
async function readEventStream(body, signal, { lastEventId = null, onMessage, onBytes = () => {}, onLastEventId = () => {}, onRetry = () => {} }) {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  let heldCR = false; // a "\r" at the end of the text so far
  let partial = ""; // the line not yet ended
  let idBuffer = lastEventId ?? "";
  let eventType = "";
  let data = [];

  const dispatch = () => {
    onLastEventId(idBuffer);
    if (data.length === 0) { eventType = ""; return; }
    const message = { id: idBuffer, event: eventType || "message", data: data.join("\n") };
    data = [];
    eventType = "";
    onMessage(message);
  };
  const processLine = (line) => {
    if (line === "") return dispatch();
    if (line.startsWith(":")) return; // a comment, e.g. the keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") eventType = value;
    else if (field === "id") { if (!value.includes("\0")) idBuffer = value; }
    else if (field === "retry") { if (/^[0-9]+$/.test(value)) onRetry(Number(value)); }
  };
  const feed = (decoded, final) => {
    let text = (heldCR ? "\r" : "") + decoded;
    heldCR = !final && text.endsWith("\r");
    if (heldCR) text = text.slice(0, -1);
    text = text.replace(/\r\n?/g, "\n");
    let start = 0;
    let newline;
    while ((newline = text.indexOf("\n", start)) >= 0) {
      const line = partial + text.slice(start, newline);
      partial = "";
      start = newline + 1;
      processLine(line);
    }
    partial += text.slice(start);
  };

  signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  for (;;) {
    const { value, done } = await reader.read();
    if (signal.aborted) return;
    if (done) return feed(decoder.decode(), true); // the rest of an unfinished event is dropped
    onBytes();
    feed(decoder.decode(value, { stream: true }), false);
  }
}

function onStreamMessage(message) {
  let event = null;
  try { event = JSON.parse(message.data); } catch { event = null; }
  if (event?.connectionId) pendingChanges.add(event.connectionId);
  if (event) scheduleRefresh();
  // For tests and diagnostics: how many events this page has handled since it loaded.
  stream.events += 1;
  document.body.dataset.streamEvents = String(stream.events);
}

const scheduleRefresh = debounce(refreshAfterChanges, 150);

function refreshAfterChanges() {
  const changed = new Set(pendingChanges);
  pendingChanges.clear();
  if (!isSignedIn()) return;
  if (currentRoute() === "connections") loadConnections();
  if (drawer.id && (changed.size === 0 || changed.has(drawer.id))) loadDrawer();
  if (environmentView.id) loadEnvironmentDetail();
}

// ---------------------------------------------------------------------------
// Kubeconfig import: preview the contexts, choose some, import, show each outcome.

const importView = { previewed: false };

function importForm() {
  const file = $("#import-file").files[0];
  const form = new FormData();
  form.append("k8sfile", file, file.name);
  return form;
}

function resetImportPreview() {
  importView.previewed = false;
  $("#import-contexts").replaceChildren();
  $("#import-contexts-fieldset").hidden = true;
  const chosen = $("#import-file").files.length > 0;
  $("#import-preview").disabled = !chosen;
  $("#import-submit").disabled = !chosen;
}

async function previewImport() {
  const button = $("#import-preview");
  button.disabled = true;
  say("Reading the kubeconfig and checking each context…");
  try {
    const answer = await request("/api/system/kubernetes/contexts", { method: "POST", form: importForm() });
    $("#import-contexts").replaceChildren(...answer.contexts.map(contextChoice));
    $("#import-contexts-fieldset").hidden = false;
    importView.previewed = true;
    say(`${plural(answer.contexts.length, "context")} found.`, "ok");
  } catch (error) {
    report(error);
  } finally {
    button.disabled = false;
  }
}

function contextChoice(context) {
  const box = el("input", { type: "checkbox", className: "import-context", value: context.name });
  box.checked = true; // like the API's default (all); a failing context then reports why
  const reach = context.reachable === true ? "reachable" : context.reachable === false ? "unreachable" : "not checked";
  const would = { created: "new", "already known": "already a connection", failed: "cannot be imported" }[context.outcome] || context.outcome;
  return el("li", {}, el("label", {}, box, el("span", {},
    el("strong", { text: context.name }),
    el("span", { className: "item-sub", text: [context.cluster && `cluster ${context.cluster}`, context.server, reach, would].filter(Boolean).join(" · ") }),
    context.detail ? el("span", { className: "item-sub", text: context.detail }) : null)));
}

async function submitImport() {
  const form = importForm();
  if (importView.previewed) {
    const chosen = $$("#import-contexts input.import-context:checked").map((box) => box.value);
    if (chosen.length === 0) return say("Choose at least one context to import.", "error");
    form.append("selectedContexts", JSON.stringify(chosen));
  }
  form.append("connectReachable", $("#import-connect").checked ? "true" : "false");
  const button = $("#import-submit");
  button.disabled = true;
  say("Importing…");
  try {
    const answer = await request("/api/system/kubernetes", { method: "POST", form });
    renderImportResults(answer);
    say(`Imported: ${summaryText(answer.summary)}.`, "ok");
  } catch (error) {
    report(error);
  } finally {
    button.disabled = false;
  }
}

function summaryText(summary = {}) {
  return Object.entries(summary).map(([outcome, count]) => `${count} ${outcome}`).join(", ") || "nothing";
}

function renderImportResults(answer) {
  $("#import-summary").textContent = summaryText(answer.summary);
  $("#import-results").replaceChildren(...answer.contexts.map((context) => el("li", { dataset: { context: context.name, outcome: context.outcome } },
    el("strong", { text: context.name }),
    el("span", { className: "outcome", text: context.outcome }),
    context.status ? statusChip(context.status) : null,
    context.connectionId
      ? textButton("Open", () => openConnectionElsewhere(context.connectionId), { "aria-label": `Open connection ${userText(context.name)}` })
      : null,
    context.detail || context.server ? el("span", { className: "detail", text: context.detail || context.server }) : null)));
  $("#import-results-panel").hidden = false;
  $("#import-results-title").focus();
}

function openConnectionElsewhere(id) {
  drawer.pendingId = id; // opened once the Connections view shows
  location.hash = "#/connections";
}

// ---------------------------------------------------------------------------
// Environments: list, create, delete, and one environment's connections.

const environmentView = { id: null, members: new Set(), ticket: 0, candidatesTicket: 0 };

async function refreshEnvironmentCache() {
  try {
    const environments = await requestAll("/api/environments", "environments");
    fillEnvironmentFilter(environments);
    return environments;
  } catch (error) {
    report(error);
    return [];
  }
}

function fillEnvironmentFilter(environments) {
  const select = $("#environment-filter");
  const current = select.value;
  select.replaceChildren(new Option("All environments", ""), ...environments.map((environment) => new Option(visible(environment.name), environment.id)));
  select.value = environments.some((environment) => environment.id === current) ? current : "";
  if (select.value !== current) { connections.environment = ""; }
}

async function loadEnvironments() {
  const environments = await refreshEnvironmentCache();
  if (!isSignedIn()) return;
  $("#environments").replaceChildren(...environments.map(environmentItem));
  $("#environments-empty").hidden = environments.length > 0;
  if (environmentView.id && !environments.some((environment) => environment.id === environmentView.id)) closeEnvironmentDetail();
  else if (environmentView.id) loadEnvironmentDetail();
}

function environmentItem(environment) {
  const item = el("li", { dataset: { id: environment.id } },
    el("div", { className: "item-main" },
      el("button", {
        type: "button", className: "link open-environment", text: environment.name,
        "aria-controls": "environment-detail", onclick: () => openEnvironment(environment),
      }),
      el("span", { className: "item-sub", text: environment.description || "No description" })),
    textButton("Delete", (event) => deleteEnvironment(environment, event.currentTarget),
      { className: "danger delete", "aria-label": `Delete environment ${userText(environment.name)}` }));
  item.classList.toggle("is-open", environment.id === environmentView.id);
  return item;
}

async function createEnvironment(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const payload = { name: form.get("name").trim() };
  const description = form.get("description").trim();
  if (description) payload.description = description;
  try {
    const created = await request("/api/environments", { method: "POST", json: payload });
    event.target.reset();
    say(`Created environment ${userText(created.name)}.`, "ok");
    environmentView.id = created.id;
    await loadEnvironments();
    openEnvironment(created);
  } catch (error) {
    report(error);
  }
}

async function deleteEnvironment(environment, opener) {
  const answer = await confirmDialog({
    title: `Delete environment ${userText(environment.name)}?`,
    message: "The environment is deleted for good. Its connections are not changed or deleted; they only leave it.",
    okLabel: "Delete", danger: true, focusBack: () => (opener.isConnected ? opener : $("#environment-form [name=name]")),
  });
  if (!answer) return;
  try {
    await request(`/api/environments/${environment.id}`, { method: "DELETE" });
    say(`Deleted environment ${userText(environment.name)}.`, "ok");
    if (environmentView.id === environment.id) closeEnvironmentDetail();
  } catch (error) {
    report(error);
  }
  loadEnvironments();
}

function openEnvironment(environment) {
  if (environmentView.id !== environment.id) {
    // Another environment: nothing of the previous one may show while this one loads.
    environmentView.members = new Set();
    $("#environment-connections").replaceChildren();
    $("#environment-connections-empty").hidden = true;
    $("#environment-connections-count").textContent = "";
    $("#environment-assign-search").value = "";
    $("#environment-assign-select").replaceChildren(new Option("Loading…", ""));
    $("#environment-assign-note").hidden = true;
  }
  environmentView.id = environment.id;
  setUserText($("#environment-detail-title"), environment.name);
  setUserText($("#environment-detail-description"), environment.description || "");
  $("#environment-detail").hidden = false;
  for (const item of $$("#environments > li")) item.classList.toggle("is-open", item.dataset.id === environment.id);
  loadEnvironmentDetail();
}

function closeEnvironmentDetail() {
  const id = environmentView.id;
  environmentView.id = null;
  $("#environment-detail").hidden = true;
  for (const item of $$("#environments > li.is-open")) item.classList.remove("is-open");
  if (id) $(`#environments li[data-id="${CSS.escape(id)}"] .open-environment`)?.focus();
}

async function loadEnvironmentDetail() {
  const id = environmentView.id;
  if (!id || currentRoute() !== "environments") return;
  const ticket = ++environmentView.ticket;
  try {
    const members = await requestAll(`/api/environments/${id}/connections`, "connections");
    if (environmentView.id !== id || ticket !== environmentView.ticket) return;
    $("#environment-connections").replaceChildren(...members.map((connection) => el("li", { dataset: { id: connection.id } },
      el("div", { className: "item-main" }, el("span", { className: "item-name", text: connection.name }),
        el("span", { className: "item-sub" }, kindLabel(connection.kind))),
      statusChip(connection.status),
      textButton("Remove", () => changeMembership(connection, "DELETE"),
        { className: "remove", "aria-label": `Remove ${userText(connection.name)} from this environment` }))));
    $("#environment-connections-empty").hidden = members.length > 0;
    $("#environment-connections-count").textContent = members.length ? `(${members.length})` : "";
    environmentView.members = new Set(members.map((connection) => connection.id));
  } catch (error) {
    report(error);
    return;
  }
  await loadAssignCandidates();
}

// The connections one may add: the first 100 by name, outside the environment, that match
// the search box; the note says when there are more, so that none silently goes missing.
async function loadAssignCandidates() {
  const id = environmentView.id;
  if (!id) return;
  const ticket = ++environmentView.candidatesTicket;
  const search = $("#environment-assign-search").value.trim();
  try {
    const candidates = [];
    let more = false;
    let total = 0;
    for (let page = 0; ; page++) {
      const query = new URLSearchParams({ page: String(page), pageSize: String(PAGE_SIZE_MAX), order: "name asc" });
      if (search) query.set("search", search);
      const answer = await request(`${API}?${queryString(query)}`);
      if (environmentView.id !== id || ticket !== environmentView.candidatesTicket) return;
      total = answer.totalCount;
      const outside = answer.connections.filter((connection) => !environmentView.members.has(connection.id));
      const room = PAGE_SIZE_MAX - candidates.length;
      candidates.push(...outside.slice(0, room));
      const last = answer.connections.length < PAGE_SIZE_MAX || (page + 1) * PAGE_SIZE_MAX >= total;
      if (outside.length > room || (candidates.length >= PAGE_SIZE_MAX && !last)) { more = true; break; }
      if (last) break;
    }
    const select = $("#environment-assign-select");
    const chosen = select.value;
    const empty = search ? "No other connection matches" : "No other connections";
    select.replaceChildren(
      new Option(candidates.length ? "Choose a connection…" : empty, ""),
      ...candidates.map((connection) => new Option(visible(`${connection.name} (${connection.kind})`), connection.id)));
    if (candidates.some((connection) => connection.id === chosen)) select.value = chosen;
    const note = $("#environment-assign-note");
    note.hidden = !more;
    note.textContent = more
      ? `Listing the first ${candidates.length} ${search ? "matching " : ""}connections by name that are not in this environment. Search to find the others.`
      : "";
  } catch (error) {
    report(error);
  }
}

async function changeMembership(connection, method) {
  const id = environmentView.id;
  try {
    await request(`/api/environments/${id}/connections/${connection.id}`, { method });
    say(method === "POST" ? `Added ${userText(connection.name)}.` : `Removed ${userText(connection.name)}.`, "ok");
  } catch (error) {
    report(error);
  }
  await loadEnvironmentDetail();
  if (method === "DELETE") $("#environment-assign-select").focus();
}

function assignConnection(event) {
  event.preventDefault();
  const select = $("#environment-assign-select");
  if (!select.value) return say("Choose a connection to add.", "error");
  changeMembership({ id: select.value, name: select.selectedOptions[0].textContent }, "POST");
}

// ---------------------------------------------------------------------------
// Credentials: list (never secrets: the API only names their keys), create, delete.

const SECRET_PRESETS = {
  token: [{ key: "token" }],
  basic: [{ key: "username", plain: true }, { key: "password" }],
  apiKey: [{ key: "apiKey" }],
  kubeconfig: [{ key: "kubeconfig", multiline: true }, { key: "context", plain: true }],
};

function secretRow({ key = "", plain = false, multiline = false } = {}) {
  const value = multiline
    ? el("textarea", { name: "secret-value", className: "secret-value", rows: "6", spellcheck: "false", autocomplete: "off" })
    : el("input", { name: "secret-value", className: "secret-value", type: plain ? "text" : "password", autocomplete: "new-password", spellcheck: "false" });
  const keyInput = el("input", { name: "secret-key", className: "secret-key", value: key, maxlength: "128", autocomplete: "off", spellcheck: "false" });
  const row = el("div", { className: "secret-row" },
    el("label", {}, "Key", keyInput),
    el("label", { className: "secret-value-label" }, "Value", value));
  row.append(textButton("×", () => removeSecretRow(row), { className: "icon-button", "aria-label": "Remove this secret field" }));
  return row;
}

function removeSecretRow(row) {
  secretRows.touched = true;
  const rows = $("#secret-rows");
  row.remove();
  if (rows.children.length === 0) rows.append(secretRow());
  $(".secret-key", rows.lastElementChild).focus();
}

// The secret rows follow the credential type (on its `change`) only while nobody has typed
// in them or added or removed one: what someone typed is never thrown away.
const secretRows = { touched: false };

function resetSecretRows() {
  $("#secret-rows").replaceChildren(secretRow({ key: "token" }));
  secretRows.touched = false;
}

function applySecretPreset(type) {
  const preset = SECRET_PRESETS[type] || [{ key: "" }];
  const rows = $$("#secret-rows .secret-row");
  const empty = rows.every((row) => $(".secret-value", row).value === "");
  if (secretRows.touched || !empty) return;
  const keys = rows.map((row) => $(".secret-key", row).value);
  const same = keys.length === preset.length && preset.every((field, index) =>
    field.key === keys[index] && Boolean(field.multiline) === (rows[index].querySelector("textarea.secret-value") !== null));
  if (same) return;
  $("#secret-rows").replaceChildren(...preset.map(secretRow));
}

function secretFromForm() {
  const secret = {};
  for (const row of $$("#secret-rows .secret-row")) {
    const key = $(".secret-key", row).value.trim();
    const value = $(".secret-value", row).value;
    if (!key && !value) continue;
    if (!key) throw new Error("Every secret value needs a key.");
    if (key in secret) throw new Error(`The secret key ${key} is given twice.`);
    secret[key] = value;
  }
  if (Object.keys(secret).length === 0) throw new Error("Give the secret at least one key and value.");
  return secret;
}

async function createCredential(event) {
  event.preventDefault();
  const form = event.target;
  let secret;
  try { secret = secretFromForm(); } catch (error) { return say(error.message, "error"); }
  const field = (name) => form.elements.namedItem(name).value.trim();
  const payload = { name: field("name"), type: field("type"), secret };
  try {
    const created = await request("/api/integrations/credentials", { method: "POST", json: payload });
    form.reset();
    resetSecretRows();
    say(`Saved credential ${userText(created.name)} (keys: ${created.secretKeys.join(", ")}).`, "ok");
    loadCredentials();
  } catch (error) {
    report(error);
  }
}

async function loadCredentials() {
  try {
    const credentials = await requestAll("/api/integrations/credentials", "credentials");
    $("#credentials").replaceChildren(...credentials.map(credentialItem));
    $("#credentials-empty").hidden = credentials.length > 0;
  } catch (error) {
    report(error);
  }
}

function credentialItem(credential) {
  return el("li", { dataset: { id: credential.id } },
    el("div", { className: "item-main" },
      el("span", { className: "item-name", text: credential.name }),
      el("span", { className: "item-sub" },
        document.createTextNode(`${credential.type} · keys: ${credential.secretKeys.join(", ") || "none"} · created `),
        timeElement(credential.createdAt))),
    textButton("Delete", (event) => deleteCredential(credential, event.currentTarget),
      { className: "danger delete", "aria-label": `Delete credential ${userText(credential.name)}` }));
}

async function deleteCredential(credential, opener) {
  const answer = await confirmDialog({
    title: `Delete credential ${userText(credential.name)}?`,
    message: "The credential is deleted for good. While a live connection uses it, the server refuses and names those connections.",
    okLabel: "Delete", danger: true, focusBack: () => (opener.isConnected ? opener : $("#credential-form [name=name]")),
  });
  if (!answer) return;
  try {
    await request(`/api/integrations/credentials?credentialId=${encodeURIComponent(credential.id)}`, { method: "DELETE" });
    say(`Deleted credential ${userText(credential.name)}.`, "ok");
  } catch (error) {
    report(error);
  }
  loadCredentials();
}

// ---------------------------------------------------------------------------
// New connection form

async function createConnection(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const payload = { name: form.get("name").trim(), kind: form.get("kind"), status: form.get("status") };
  if (form.get("url")) payload.url = form.get("url").trim();
  try {
    const created = await request(API, { method: "POST", json: payload });
    say(`Created ${userText(created.name)} (${created.status}).`, "ok");
    event.target.reset();
    toggleCreateForm(false);
  } catch (error) {
    report(error);
  }
  loadConnections();
}

function toggleCreateForm(show) {
  $("#create-form").hidden = !show;
  $("#new-connection").setAttribute("aria-expanded", String(show));
  if (show) $("#create-form [name=name]").focus(); else $("#new-connection").focus();
}

// ---------------------------------------------------------------------------
// Wiring

function setUpConnectionsView() {
  fillKindSelects();
  $("#status-filter").append(...STATUSES.map((status) => new Option(status, status)));
  $("#bulk-status").append(...BULK_TARGETS.map((status) => new Option(status, status)));
  const search = debounce(() => {
    const value = $("#search").value.trim();
    if (value === connections.search) return;
    connections.search = value;
    connections.page = 0;
    loadConnections();
  }, 250);
  // "change" too: a WebDriver clear, or a pasted-then-blurred value, fires no "input".
  for (const type of ["input", "change", "search"]) $("#search").addEventListener(type, search);
  $("#kind-filter").addEventListener("change", (event) => { connections.kind = event.target.value; connections.page = 0; loadConnections(); });
  $("#status-filter").addEventListener("change", (event) => setStatusFilter(event.target.value));
  $("#environment-filter").addEventListener("change", (event) => { connections.environment = event.target.value; connections.page = 0; loadConnections(); });
  for (const button of $$("#connections th button[data-sort]")) button.addEventListener("click", () => sortBy(button.dataset.sort));
  $("#prev").addEventListener("click", () => { connections.page = Math.max(0, connections.page - 1); loadConnections(); });
  $("#next").addEventListener("click", () => { connections.page += 1; loadConnections(); });
  $("#page-size").addEventListener("change", (event) => { connections.pageSize = Number(event.target.value); connections.page = 0; loadConnections(); });
  $("#select-all").addEventListener("change", (event) => selectAllOnPage(event.target.checked));
  $("#bulk-status").addEventListener("change", showBulkWarning);
  $("#bulk-apply").addEventListener("click", applyBulk);
  $("#bulk-clear").addEventListener("click", () => { selectAllOnPage(false); connections.selected.clear(); updateSelectionUI(); $("#select-all").focus(); });
  $("#bulk-results-close").addEventListener("click", () => { $("#bulk-results-panel").hidden = true; });
  $("#new-connection").addEventListener("click", () => toggleCreateForm($("#create-form").hidden));
  $("#cancel-create").addEventListener("click", () => toggleCreateForm(false));
  $("#create-form").addEventListener("submit", createConnection);
  renderSortHeaders();
  showBulkWarning();
}

function setUpMenuAndDrawer() {
  $("#status-menu").addEventListener("keydown", onMenuKeydown);
  document.addEventListener("pointerdown", (event) => {
    const list = $("#status-menu");
    if (list.hidden || list.contains(event.target) || menu.opener?.contains(event.target)) return;
    closeStatusMenu();
  });
  // A fixed menu would drift away from its button when anything scrolls.
  window.addEventListener("scroll", (event) => { if (!$("#status-menu").contains(event.target)) closeStatusMenu(); }, true);
  window.addEventListener("resize", () => closeStatusMenu());
  narrowScreen.addEventListener("change", updateDrawerModality);
  $("#drawer-close").addEventListener("click", () => closeDrawer());
  $("#drawer-ping").addEventListener("click", pingDrawerConnection);
  attachMenuButton($("#drawer-status-menu"), () => drawer.connection);
  $("#confirm-cancel").addEventListener("click", () => $("#confirm").close("cancel"));
  $("#confirm-reason").addEventListener("keydown", (event) => {
    // Enter in a text field would submit the form, i.e. confirm: not for a dangerous step.
    if (event.key === "Enter" && confirmState.danger) event.preventDefault();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (!$("#status-menu").hidden) return closeStatusMenu({ restoreFocus: true });
    if ($("#confirm").open) return; // the dialog closes itself
    if (!$("#drawer").hidden) closeDrawer();
  });
}

function setUpOtherViews() {
  $("#import-file").addEventListener("change", resetImportPreview);
  $("#import-preview").addEventListener("click", previewImport);
  $("#import-submit").addEventListener("click", submitImport);
  $("#environment-form").addEventListener("submit", createEnvironment);
  $("#environment-assign").addEventListener("submit", assignConnection);
  const searchCandidates = debounce(loadAssignCandidates, 250);
  for (const type of ["input", "change", "search"]) $("#environment-assign-search").addEventListener(type, searchCandidates);
  $("#environment-assign-search").addEventListener("keydown", (event) => {
    // Enter searches now; it does not add whatever the list happens to have chosen.
    if (event.key === "Enter") { event.preventDefault(); loadAssignCandidates(); }
  });
  $("#environment-detail-close").addEventListener("click", closeEnvironmentDetail);
  $("#credential-form").addEventListener("submit", createCredential);
  $("#credential-form [name=type]").addEventListener("change", (event) => applySecretPreset(event.target.value.trim()));
  $("#secret-rows").addEventListener("input", () => { secretRows.touched = true; });
  $("#secret-add").addEventListener("click", () => {
    secretRows.touched = true;
    $("#secret-rows").append(secretRow());
    $("#secret-rows .secret-row:last-child .secret-key").focus();
  });
  resetSecretRows();
  $("#stream-retry").addEventListener("click", () => stream.wake?.abort());
}

function setUp() {
  resetControls();
  document.body.dataset.streamEvents = "0";
  setUpSignIn();
  setUpConnectionsView();
  setUpMenuAndDrawer();
  setUpOtherViews();
  window.addEventListener("hashchange", () => showRoute({ moveFocus: true }));
  // Health probes and relative times change without lifecycle events: refresh now and then.
  setInterval(() => {
    if (isSignedIn() && currentRoute() === "connections" && !document.hidden) loadConnections();
  }, 30000);
  if (!location.hash) history.replaceState(null, "", "#/connections");
  const { problem, notice } = takeSignInNotice();
  if (token()) startSession();
  else {
    showSignIn(problem);
    if (notice) say(notice);
  }
}

setUp();
