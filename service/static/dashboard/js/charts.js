// Horizontal bar charts drawn as plain SVG (no chart library): one row per item, its label,
// its bar(s) and its value; every text is a text node, every row has a <title> tooltip.
import { formatCompact, replace, s, h } from "./dom.js";

const WIDTH = 520;
const LABEL = 190;
const VALUE = 60;
const ROW = 22;
const BAR = 15;

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function frame(container, rows, caption) {
  const height = Math.max(1, rows) * ROW + 6;
  const svg = s("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, width: "100%", role: "img", "aria-label": caption, preserveAspectRatio: "xMinYMin meet",
  });
  replace(container, svg);
  return svg;
}

/** rows: [{key, label, value}] — one bar each (counts). */
export function countChart(container, rows, { caption }) {
  if (!rows.length) return replace(container, h("p", { class: "muted empty" }, "Nothing to show."));
  const svg = frame(container, rows.length, caption);
  const max = Math.max(1, ...rows.map((r) => r.value));
  const span = WIDTH - LABEL - VALUE;
  rows.forEach((row, i) => {
    const y = i * ROW + 4;
    const width = (row.value / max) * span;
    svg.append(s("g", { class: "row", "data-key": row.key, "data-value": row.value },
      s("title", {}, `${row.label}: ${row.value}`),
      s("text", { x: LABEL - 8, y: y + BAR - 3, "text-anchor": "end", class: "label" }, shorten(row.label, 24)),
      s("rect", { x: LABEL, y, width: Math.max(row.value ? 2 : 0, width), height: BAR, class: `bar status-${row.key}` }),
      s("text", { x: LABEL + width + 6, y: y + BAR - 3, class: "value" }, String(row.value)),
    ));
  });
  return svg;
}

/** rows: [{key, label, needs, cost, funded, gap}] (USD numbers) — funded and gap stacked to the cost. */
export function fundingChart(container, rows, { caption }) {
  if (!rows.length) return replace(container, h("p", { class: "muted empty" }, "No costed needs to show."));
  const svg = frame(container, rows.length + 1, caption);
  const max = Math.max(1, ...rows.map((r) => Math.max(r.cost, r.funded + r.gap)));
  const span = WIDTH - LABEL - VALUE;
  rows.forEach((row, i) => {
    const y = i * ROW + 4;
    const funded = (row.funded / max) * span;
    const gap = (row.gap / max) * span;
    svg.append(s("g", { class: "row", "data-key": row.key, "data-gap": row.gap, "data-needs": row.needs },
      s("title", {}, `${row.label}: ${row.needs} need(s), cost USD ${formatCompact(row.cost)}, ` +
        `funded USD ${formatCompact(row.funded)}, gap USD ${formatCompact(row.gap)}`),
      s("text", { x: LABEL - 8, y: y + BAR - 3, "text-anchor": "end", class: "label" }, shorten(row.label, 24)),
      s("rect", { x: LABEL, y, width: funded, height: BAR, class: "bar funded" }),
      s("rect", { x: LABEL + funded, y, width: Math.max(row.gap ? 2 : 0, gap), height: BAR, class: "bar gap" }),
      s("text", { x: LABEL + funded + gap + 6, y: y + BAR - 3, class: "value" }, formatCompact(row.gap)),
    ));
  });
  const y = rows.length * ROW + 4;
  svg.append(s("g", { class: "legend" },
    s("rect", { x: LABEL, y, width: 10, height: 10, class: "bar funded" }),
    s("text", { x: LABEL + 14, y: y + 9 }, "funded (agreed)"),
    s("rect", { x: LABEL + 135, y, width: 10, height: 10, class: "bar gap" }),
    s("text", { x: LABEL + 149, y: y + 9 }, "gap (value shown)"),
  ));
  return svg;
}
