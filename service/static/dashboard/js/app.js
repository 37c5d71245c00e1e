// The dashboard page: sign in with an API key, then charts, the needs table, a need's matches
// and the live event stream — all through the public GraphQL API as that key.
import { countChart, fundingChart } from "./charts.js";
import { append, byId, formatMoney, formatTime, h, humanize, replace } from "./dom.js";
import { ApiError, LiveConnection, request } from "./graphql.js";

const KEY_STORAGE = "tcgraph.dashboard.apiKey";
const ANONYMOUS_STORAGE = "tcgraph.dashboard.anonymous";
const NOTICE_STORAGE = "tcgraph.dashboard.notice";
const STATUSES = ["DRAFT", "SUBMITTED", "MATCHED", "IN_PROGRESS", "COMPLETED", "WITHDRAWN"];
const VISIBILITIES = ["PUBLIC", "PARTNERS", "PRIVATE"];
const REGIONAL_GROUPS = ["AFRICAN", "ASIA_PACIFIC", "EASTERN_EUROPEAN", "LATIN_AMERICAN_CARIBBEAN", "WESTERN_EUROPEAN_OTHERS"];
const EVENTS_SHOWN = 50;
const EVENTS_REPLAYED = 20; // on opening, the newest events before now are replayed

const GAP = "fragment Gap on FundingGap { key label needs cost { amount } funded { amount } gap { amount } }";

const OVERVIEW = `query DashboardOverview {
  viewer { role label state { code name } organization { name acronym } }
  themes(first: 100) { edges { node { code name } } }
  ${STATUSES.map((s) => `${s}: needs(first: 0, filter: {statuses: [${s}]}) { totalCount }`).join("\n  ")}
  byTheme: fundingGaps(groupBy: THEME) { ...Gap }
  byRegion: fundingGaps(groupBy: REGION) { ...Gap }
}
${GAP}`;

const NEEDS = `query DashboardNeeds($filter: NeedFilter, $orderBy: NeedOrder, $first: Int, $after: String) {
  needs(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id title status visibility themes updatedAt
      state { code name }
      estimatedCost { amount currency }
      funding { gap { amount currency } }
    } }
  }
}`;

const NEED = `query DashboardNeed($id: ID!) {
  node(id: $id) { ... on Need {
    id title description status visibility themes sectors sdgTargets modalities startDate endDate updatedAt
    state { code name }
    estimatedCost { amount currency }
    funding { agreed { amount currency } gap { amount currency } }
    matches(first: 10) { totalCount edges { node {
      id score status criteriaVersion offerKind
      programme { title } capability { title } organization { name acronym }
      breakdown { criterion weight score explanation }
    } } }
  } }
}`;

const AGGREGATES = `subscription DashboardAggregates {
  dashboard(debounceSeconds: 1) {
    sequence
    byStatus { status needs }
    byTheme { ...Gap }
    byRegion { ...Gap }
  }
}
${GAP}`;

const EVENTS = `subscription DashboardEvents($after: Int) {
  events(after: $after) {
    sequence kind occurredAt removed entityId
    entity {
      __typename
      ... on Need { id title needStatus: status visibility state { code } }
      ... on Match { id score matchStatus: status need { id title } }
      ... on Programme { title }
      ... on Capability { title }
      ... on Organization { name }
    }
  }
}`;

const session = {
  key: null,
  live: null,
  themes: new Map(),
  lastSequence: null,
  seen: new Set(),
  table: { filter: {}, orderBy: { field: "UPDATED_AT", direction: "DESC" }, pageSize: 20, cursors: [null], generation: 0 },
  openNeed: null,
};

// ---------------------------------------------------------------- signing in and out

function showLogin(message) {
  byId("board").hidden = true;
  byId("viewer").hidden = true;
  byId("login").hidden = false;
  byId("login-error").textContent = message || "";
  byId("api-key").focus();
}

function signOut(notice) {
  sessionStorage.removeItem(KEY_STORAGE);
  sessionStorage.removeItem(ANONYMOUS_STORAGE);
  if (notice) sessionStorage.setItem(NOTICE_STORAGE, notice);
  if (session.live) session.live.close();
  // A fresh page: nothing the previous key could see stays in the document.
  location.replace(location.pathname);
}

function failed(error, where) {
  if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
    signOut(`Signed out: ${error.message}`);
    return;
  }
  const target = byId(where || "board-error");
  target.textContent = error.message || String(error);
  target.hidden = false;
}

async function signIn(key) {
  try {
    await request(key, "{ viewer { role } }");
  } catch (error) {
    showLogin(error.code === "UNAUTHENTICATED" ? "This key was refused: it is unknown, revoked or expired." : error.message);
    return;
  }
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.setItem(ANONYMOUS_STORAGE, "1");
  await start(key);
}

function viewerLabel(viewer) {
  const who = viewer.organization ? (viewer.organization.acronym || viewer.organization.name)
    : viewer.state ? viewer.state.name : null;
  return [humanize(viewer.role), who, viewer.label ? `(${viewer.label})` : null].filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------- charts

function gapRows(gaps) {
  return gaps
    .map((g) => ({
      key: g.key, label: g.label, needs: g.needs,
      cost: Number(g.cost.amount), funded: Number(g.funded.amount), gap: Number(g.gap.amount),
    }))
    .sort((a, b) => b.gap - a.gap || a.label.localeCompare(b.label));
}

function drawCharts(counts, byTheme, byRegion, sequence) {
  const status = byId("chart-status");
  countChart(status.querySelector(".chart"), STATUSES.map((s) => ({ key: s, label: humanize(s), value: counts[s] || 0 })),
    { caption: "Needs by status" });
  const total = STATUSES.reduce((sum, s) => sum + (counts[s] || 0), 0);
  status.dataset.total = String(total);
  if (sequence !== undefined) status.dataset.sequence = String(sequence);
  const themeRows = gapRows(byTheme).map((row) => ({ ...row, label: session.themes.get(row.key) || row.label }));
  fundingChart(byId("chart-theme").querySelector(".chart"), themeRows, { caption: "Funding gaps by theme, USD" });
  fundingChart(byId("chart-region").querySelector(".chart"), gapRows(byRegion), { caption: "Funding gaps by region, USD" });
}

// ---------------------------------------------------------------- the needs table

function checkboxes(container, values) {
  const name = container.dataset.name;
  replace(container, values.map((value) => h("label", { class: "check" },
    h("input", { type: "checkbox", name, value }), humanize(value))));
}

const list = (text, upper) => text.split(/[\s,]+/).filter(Boolean).map((v) => (upper ? v.toUpperCase() : v));

function filterFromForm(form) {
  const data = new FormData(form);
  const filter = {};
  const text = (name) => String(data.get(name) || "").trim();
  if (text("search")) filter.search = text("search");
  for (const [name, upper] of [["states", true], ["regions", false], ["sectors", false], ["sdgs", false]]) {
    const values = list(text(name), upper);
    if (values.length) filter[name] = values;
  }
  for (const name of ["themes", "statuses", "visibilities", "regionalGroups"]) {
    const values = data.getAll(name).map(String);
    if (values.length) filter[name] = values;
  }
  if (text("costMin") || text("costMax")) {
    filter.cost = { currency: (text("costCurrency") || "USD").toUpperCase() };
    if (text("costMin")) filter.cost.min = text("costMin");
    if (text("costMax")) filter.cost.max = text("costMax");
  }
  if (text("updatedSince")) {
    const since = new Date(text("updatedSince"));
    if (!Number.isNaN(since.getTime())) filter.updatedSince = since.toISOString();
  }
  return {
    filter,
    orderBy: { field: text("orderField") || "UPDATED_AT", direction: text("orderDirection") || "DESC" },
    pageSize: Number(text("pageSize")) || 20,
  };
}

function needRow(need) {
  const open = h("a", { href: `#need=${encodeURIComponent(need.id)}`, class: "need-link" }, need.title);
  const themes = need.themes.map((code) => h("span", { class: "tag", title: session.themes.get(code) || code }, code));
  return h("tr", { "data-id": need.id, "data-status": need.status, "data-visibility": need.visibility },
    h("td", { class: "title" }, open),
    h("td", { title: need.state.name }, need.state.code),
    h("td", {}, h("span", { class: `pill status-${need.status}` }, humanize(need.status))),
    h("td", {}, humanize(need.visibility)),
    h("td", { class: "tags" }, themes),
    h("td", { class: "num" }, formatMoney(need.estimatedCost)),
    h("td", { class: "num" }, need.funding.gap ? formatMoney(need.funding.gap) : ""),
    h("td", { class: "time" }, formatTime(need.updatedAt)),
  );
}

async function loadNeeds() {
  const table = session.table;
  const error = byId("needs-error");
  error.hidden = true;
  const body = byId("needs-table").querySelector("tbody");
  byId("needs").setAttribute("aria-busy", "true");
  const generation = ++table.generation; // only the latest request's answer is shown
  try {
    const data = await request(session.key, NEEDS, {
      filter: table.filter, orderBy: table.orderBy, first: table.pageSize, after: table.cursors[table.cursors.length - 1],
    });
    if (generation !== table.generation) return;
    const needs = data.needs;
    table.pageInfo = needs.pageInfo;
    replace(body, needs.edges.length ? needs.edges.map((e) => needRow(e.node))
      : h("tr", { class: "empty" }, h("td", { colspan: 8 }, "No needs match these filters.")));
    byId("needs-count").textContent = `${needs.totalCount}`;
    byId("needs").dataset.total = String(needs.totalCount);
    const page = table.cursors.length;
    const pages = Math.max(1, Math.ceil(needs.totalCount / table.pageSize));
    byId("page-info").textContent = `page ${page} of ${pages}`;
    byId("page-prev").disabled = page === 1;
    byId("page-next").disabled = !needs.pageInfo.hasNextPage;
  } catch (e) {
    if (generation !== table.generation) return;
    replace(body);
    failed(e, "needs-error");
  } finally {
    if (generation === table.generation) byId("needs").setAttribute("aria-busy", "false");
  }
}

// ---------------------------------------------------------------- a need and its matches

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function matchItem(match) {
  const offer = match.programme ? match.programme.title : match.capability ? match.capability.title : "";
  const org = match.organization ? (match.organization.acronym || match.organization.name) : "";
  const rows = match.breakdown.map((c) => h("tr", { "data-criterion": c.criterion },
    h("th", { scope: "row" }, humanize(c.criterion)),
    h("td", { class: "num" }, c.weight.toFixed(2)),
    h("td", { class: "num" }, c.score.toFixed(2)),
    h("td", { class: "meter" }, h("meter", { min: 0, max: 1, value: c.score })),
    h("td", {}, c.explanation),
  ));
  return h("li", { class: "match", "data-id": match.id },
    h("div", { class: "match-head" },
      h("strong", { class: "score" }, match.score.toFixed(2)),
      h("span", { class: "offer" }, offer),
      h("span", { class: "muted" }, [humanize(match.offerKind), org].filter(Boolean).join(" · ")),
      h("span", { class: `pill match-${match.status}` }, humanize(match.status)),
      h("span", { class: "muted" }, `criteria v${match.criteriaVersion}`)),
    h("table", { class: "breakdown" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "criterion"), h("th", { scope: "col", class: "num" }, "weight"),
        h("th", { scope: "col", class: "num" }, "score"), h("th", { scope: "col" }, ""), h("th", { scope: "col" }, "why"))),
      h("tbody", {}, rows)));
}

async function showNeed(id) {
  session.openNeed = id;
  const panel = byId("need-detail");
  panel.hidden = false;
  panel.dataset.id = id;
  delete panel.dataset.found; // set again once this need's answer is shown
  replace(byId("need-title"), "…");
  for (const part of ["need-facts", "need-description", "matches", "matches-count", "need-message"]) replace(byId(part));
  let need;
  try {
    need = (await request(session.key, NEED, { id })).node;
  } catch (e) {
    if (session.openNeed === id) byId("need-message").textContent = e.message;
    return;
  }
  if (session.openNeed !== id) return;
  panel.dataset.found = need ? "true" : "false";
  if (!need) {
    byId("need-title").textContent = "Need not found";
    byId("need-message").textContent = "This need does not exist or is not visible to you.";
    return;
  }
  byId("need-title").textContent = need.title;
  append(byId("need-facts"), [
    fact("State", `${need.state.name} (${need.state.code})`),
    fact("Status", h("span", { class: `pill status-${need.status}` }, humanize(need.status))),
    fact("Visibility", humanize(need.visibility)),
    fact("Themes", need.themes.map((t) => session.themes.get(t) || t).join(", ")),
    fact("DAC sectors", need.sectors.join(", ")),
    fact("SDG targets", need.sdgTargets.join(", ")),
    fact("Modalities", need.modalities.map(humanize).join(", ")),
    fact("Estimated cost", formatMoney(need.estimatedCost)),
    fact("Funding agreed", formatMoney(need.funding.agreed) || "none"),
    fact("Funding gap", formatMoney(need.funding.gap)),
    fact("Timeframe", [need.startDate, need.endDate].filter(Boolean).join(" – ")),
    fact("Last change", formatTime(need.updatedAt)),
  ]);
  byId("need-description").textContent = need.description;
  byId("matches-count").textContent = String(need.matches.totalCount);
  replace(byId("matches"), need.matches.edges.length ? need.matches.edges.map((e) => matchItem(e.node))
    : h("li", { class: "muted" }, "No matches yet."));
  panel.scrollIntoView({ block: "start" });
}

function route() {
  const match = /^#need=(.+)$/.exec(location.hash);
  if (match) {
    let id;
    try {
      id = decodeURIComponent(match[1]);
    } catch {
      return;
    }
    showNeed(id);
  } else {
    session.openNeed = null;
    byId("need-detail").hidden = true;
  }
}

// ---------------------------------------------------------------- live

function eventSummary(event) {
  const entity = event.entity;
  if (event.removed || !entity) return [h("span", { class: "muted" }, event.removed ? "no longer visible to you" : "not visible to you")];
  switch (entity.__typename) {
    case "Need":
      return [h("a", { href: `#need=${encodeURIComponent(entity.id)}`, class: "need-link" }, entity.title),
        h("span", { class: "muted" }, ` ${entity.state.code} · ${humanize(entity.needStatus)} · ${humanize(entity.visibility)}`)];
    case "Match":
      return [`score ${entity.score.toFixed(2)} (${humanize(entity.matchStatus)}) for `,
        h("a", { href: `#need=${encodeURIComponent(entity.need.id)}`, class: "need-link" }, entity.need.title)];
    case "Programme":
    case "Capability":
      return [entity.title];
    case "Organization":
      return [entity.name];
    default:
      return [h("span", { class: "muted" }, entity.__typename)];
  }
}

function showEvent(event) {
  if (session.seen.has(event.sequence)) return;
  session.seen.add(event.sequence);
  session.lastSequence = Math.max(session.lastSequence || 0, event.sequence);
  const item = h("li", { class: "event", "data-sequence": event.sequence, "data-kind": event.kind, "data-entity": event.entityId },
    h("div", { class: "event-head" },
      h("span", { class: "kind" }, humanize(event.kind)),
      h("span", { class: "muted time" }, `#${event.sequence} · ${formatTime(event.occurredAt)}`)),
    h("div", { class: "event-body" }, eventSummary(event)));
  const listElement = byId("event-list");
  const newer = [...listElement.children].find((li) => Number(li.dataset.sequence) < event.sequence);
  listElement.insertBefore(item, newer || null);
  while (listElement.children.length > EVENTS_SHOWN) listElement.lastElementChild.remove();
  if (session.openNeed && (event.entityId === session.openNeed || (event.entity && event.entity.need && event.entity.need.id === session.openNeed))) {
    showNeed(session.openNeed);
  }
}

function setLiveStatus(state, detail) {
  const badge = byId("live-status");
  badge.dataset.state = state;
  badge.textContent = { connecting: "connecting…", live: "live", retrying: "reconnecting…", failed: "live updates stopped" }[state] || state;
  badge.title = detail || "";
}

function subscribeEvents(live, starts) {
  const refused = (error) => {
    if (error.code === "BAD_USER_INPUT" && starts.length > 1) {
      session.lastSequence = null;
      subscribeEvents(live, starts.slice(1));
    } else {
      failed(error);
    }
  };
  const variables = () => {
    const after = session.lastSequence ?? starts[0];
    return after === null ? {} : { after };
  };
  const stop = live.subscribe({ query: EVENTS, variables }, {
    next: (message) => {
      if (!message.errors) return showEvent(message.data.events);
      stop();
      refused(new ApiError(message.errors[0].message, message.errors[0].extensions?.code));
    },
    error: refused,
  });
}

function startLive() {
  const live = new LiveConnection({ key: session.key, onStatus: setLiveStatus });
  session.live = live;
  let eventsStarted = false;
  live.subscribe({ query: AGGREGATES }, {
    next: (result) => {
      if (result.errors) return failed(new ApiError(result.errors[0].message, result.errors[0].extensions?.code));
      const aggregates = result.data.dashboard;
      const counts = Object.fromEntries(aggregates.byStatus.map((c) => [c.status, c.needs]));
      drawCharts(counts, aggregates.byTheme, aggregates.byRegion, aggregates.sequence);
      if (!eventsStarted) {
        eventsStarted = true;
        // Replay the newest events before this position, then stream; after a reconnect,
        // go on from the last event shown (no gap). Where the log no longer holds them
        // (pruned after EVENT_RETENTION_DAYS), start from this position, else live only.
        const start = Math.max(0, aggregates.sequence - EVENTS_REPLAYED);
        byId("events").dataset.liveFrom = String(aggregates.sequence);
        subscribeEvents(live, [start, aggregates.sequence, null]);
      }
    },
    error: (e) => failed(e),
  });
}

// ---------------------------------------------------------------- start

async function start(key) {
  session.key = key;
  byId("login").hidden = true;
  let overview;
  try {
    overview = await request(key, OVERVIEW);
  } catch (e) {
    if (e.code === "UNAUTHENTICATED") return signOut(`Signed out: ${e.message}`);
    byId("board").hidden = false;
    return failed(e);
  }
  byId("viewer-label").textContent = viewerLabel(overview.viewer);
  byId("viewer").hidden = false;
  byId("viewer").dataset.role = overview.viewer.role;
  byId("board").hidden = false;
  for (const edge of overview.themes.edges) session.themes.set(edge.node.code, edge.node.name);
  const themeSelect = document.querySelector("#filters select[name=themes]");
  replace(themeSelect, overview.themes.edges.map((e) => h("option", { value: e.node.code }, `${e.node.name} (${e.node.code})`)));
  const counts = Object.fromEntries(STATUSES.map((s) => [s, overview[s].totalCount]));
  drawCharts(counts, overview.byTheme, overview.byRegion);
  await loadNeeds();
  route();
  startLive();
}

function wire() {
  for (const container of document.querySelectorAll("#filters .checks")) {
    checkboxes(container, { statuses: STATUSES, visibilities: VISIBILITIES, regionalGroups: REGIONAL_GROUPS }[container.dataset.name]);
  }
  byId("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = byId("api-key").value.trim();
    byId("api-key").value = "";
    if (key) signIn(key);
  });
  byId("anonymous").addEventListener("click", () => signIn(null));
  byId("sign-out").addEventListener("click", () => signOut());
  const filters = byId("filters");
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(session.table, filterFromForm(filters), { cursors: [null] });
    loadNeeds();
  });
  filters.addEventListener("reset", () => {
    setTimeout(() => filters.requestSubmit(), 0); // after the form has cleared its fields
  });
  byId("page-next").addEventListener("click", () => {
    if (!session.table.pageInfo || !session.table.pageInfo.hasNextPage) return;
    session.table.cursors.push(session.table.pageInfo.endCursor);
    loadNeeds();
  });
  byId("page-prev").addEventListener("click", () => {
    if (session.table.cursors.length > 1) session.table.cursors.pop();
    loadNeeds();
  });
  byId("need-close").addEventListener("click", () => {
    history.replaceState(null, "", location.pathname);
    route();
  });
  window.addEventListener("hashchange", route);
}

wire();
const notice = sessionStorage.getItem(NOTICE_STORAGE);
sessionStorage.removeItem(NOTICE_STORAGE);
const stored = sessionStorage.getItem(KEY_STORAGE);
if (stored || sessionStorage.getItem(ANONYMOUS_STORAGE)) start(stored);
else showLogin(notice);
