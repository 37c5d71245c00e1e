// Building the page from API data without ever parsing it as HTML: every text goes in as a
// text node (textContent), every attribute through setAttribute with a name written here.
// (No innerHTML, outerHTML, insertAdjacentHTML or document.write anywhere in the dashboard;
// tests/e2e/test_dashboard.py checks the sources.)

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) throw new Error("event handlers are added with addEventListener");
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

/** An HTML element: h("td", {class: "num"}, "text", otherNode, ["more", "children"]). */
export function h(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/** An SVG element, the same way. */
export function s(tag, attributes, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}

/** Appends strings as text nodes and nodes as they are (nested arrays flattened). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces an element's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

export const byId = (id) => document.getElementById(id);

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });

/** "1.2M" for charts; money objects as "USD 850,000". */
export const formatCompact = (value) => compact.format(value);
export function formatMoney(money) {
  if (!money) return "";
  const amount = Number(money.amount);
  return `${money.currency} ${Number.isFinite(amount) ? whole.format(amount) : money.amount}`;
}

export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/** SUBMITTED → "submitted", IN_PROGRESS → "in progress". */
export const humanize = (code) => String(code).toLowerCase().replaceAll("_", " ");
