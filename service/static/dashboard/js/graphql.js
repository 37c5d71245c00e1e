// The two ways the dashboard talks to the service, both the public API at /graphql:
// GraphQL over HTTP (fetch) and graphql-transport-ws (a minimal client for the protocol,
// https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md, written out here so
// that nothing is loaded from elsewhere).

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

const ENDPOINT = "/graphql";

function authorization(key) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** Runs one query or mutation; resolves to `data`, rejects with ApiError (first error's code). */
export async function request(key, query, variables = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json", ...authorization(key) },
      body: JSON.stringify({ query, variables }),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(`The service did not answer (${error.message}).`, "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The service answered HTTP ${response.status} without a GraphQL result.`, "BAD_RESPONSE");
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError(body.errors.map((e) => e.message).join(" "), first.extensions && first.extensions.code);
  }
  return body.data;
}

const PROTOCOL = "graphql-transport-ws";
// Close codes after which reconnecting cannot help: bad credentials or a protocol mistake.
const FATAL = new Map([
  [4400, "the service refused a message (a bug in this page)"],
  [4401, "not authenticated"],
  [4403, "your credentials were refused (revoked or expired key?)"],
  [4406, "the service does not speak graphql-transport-ws"],
]);

/**
 * One WebSocket for all subscriptions, reconnecting with back-off while any is active.
 * `onStatus(state, detail)` reports "connecting", "live", "retrying" or "failed".
 * A subscription's `variables` may be a function, called at each (re)subscribe, so a stream
 * can resume where it stopped.
 */
export class LiveConnection {
  constructor({ key, onStatus }) {
    this.key = key;
    this.onStatus = onStatus || (() => {});
    this.sinks = new Map(); // id → {query, variables, next, error}
    this.nextId = 1;
    this.socket = null;
    this.acknowledged = false;
    this.attempt = 0;
    this.closed = false;
    this.retryTimer = null;
  }

  subscribe({ query, variables }, { next, error }) {
    const id = String(this.nextId++);
    this.sinks.set(id, { query, variables, next, error: error || (() => {}) });
    if (this.acknowledged) this.#sendSubscribe(id);
    else this.#connect();
    return () => this.#unsubscribe(id);
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.sinks.clear();
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
  }

  #url() {
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${ENDPOINT}`;
  }

  #connect() {
    if (this.closed || this.socket) return;
    this.onStatus("connecting");
    const socket = new WebSocket(this.#url(), PROTOCOL);
    this.socket = socket;
    this.acknowledged = false;
    socket.addEventListener("open", () => {
      this.#send({ type: "connection_init", payload: authorization(this.key) });
    });
    socket.addEventListener("message", (event) => this.#receive(event.data));
    socket.addEventListener("close", (event) => this.#closed(socket, event));
  }

  #receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    const sink = message.id !== undefined ? this.sinks.get(message.id) : undefined;
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempt = 0;
        this.onStatus("live");
        for (const id of this.sinks.keys()) this.#sendSubscribe(id);
        break;
      case "ping":
        this.#send({ type: "pong" });
        break;
      case "next":
        if (sink) sink.next(message.payload);
        break;
      case "error":
        if (sink) {
          this.sinks.delete(message.id);
          const errors = Array.isArray(message.payload) ? message.payload : [];
          sink.error(new ApiError(errors.map((e) => e.message).join(" ") || "subscription refused",
            errors[0] && errors[0].extensions && errors[0].extensions.code));
        }
        break;
      case "complete":
        this.sinks.delete(message.id);
        break;
      default:
        break; // pong, or something newer: nothing to do
    }
  }

  #closed(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.acknowledged = false;
    if (this.closed) return;
    const fatal = FATAL.get(event.code);
    if (fatal) {
      this.onStatus("failed", `${fatal} (close code ${event.code})`);
      for (const sink of this.sinks.values()) sink.error(new ApiError(fatal, event.code === 4403 ? "FORBIDDEN" : "CLOSED"));
      this.sinks.clear();
      return;
    }
    if (!this.sinks.size) return;
    const delay = Math.min(30000, 1000 * 2 ** this.attempt++);
    this.onStatus("retrying", `connection lost (code ${event.code}); retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #sendSubscribe(id) {
    const sink = this.sinks.get(id);
    const variables = typeof sink.variables === "function" ? sink.variables() : sink.variables || {};
    this.#send({ id, type: "subscribe", payload: { query: sink.query, variables } });
  }

  #unsubscribe(id) {
    if (this.sinks.delete(id) && this.acknowledged) this.#send({ id, type: "complete" });
  }

  #send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
