#!/usr/bin/env node
// Subscribe to a tcgraph GraphQL subscription with the reference `graphql-ws` client.
//
//   node subscribe.mjs --url ws://127.0.0.1:8000/graphql --query 'subscription { events { kind } }' \
//        [--variables '{"after": 0}'] [--key tcg_…] [--count 1] [--timeout 30]
//
// stdout: one JSON line per `next` payload ({"data": …} or {"data": null, "errors": […]}).
// stderr: one JSON line per status change: {"status": "connected", "payload": …} once the server
//         acknowledged connection_init, {"status": "closed", "code": …, "reason": …} when the
//         socket closes, {"status": "error", …} or {"status": "timeout", …} before a failure exit.
// Exit codes: 0 after --count events; 2 timeout; 3 connection closed or subscription error
//             (e.g. 4403 for a bad key); 4 the server completed the subscription early; 64 usage.
import { parseArgs } from "node:util";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

function usage(message) {
  process.stderr.write(`${message}\nusage: node subscribe.mjs --url WS_URL --query QUERY [--variables JSON] [--key API_KEY] [--count N] [--timeout SECONDS]\n`);
  process.exit(64);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      url: { type: "string" },
      query: { type: "string" },
      variables: { type: "string", default: "{}" },
      key: { type: "string" },
      count: { type: "string", default: "1" },
      timeout: { type: "string", default: "30" },
    },
    strict: true,
  }));
} catch (error) {
  usage(error.message);
}
if (!options.url || !options.query) usage("--url and --query are required");
const count = Number.parseInt(options.count, 10);
const timeoutSeconds = Number.parseFloat(options.timeout);
if (!(count >= 1) || !(timeoutSeconds > 0)) usage("--count must be >= 1 and --timeout > 0");
let variables;
try {
  variables = JSON.parse(options.variables);
} catch (error) {
  usage(`--variables is not JSON: ${error.message}`);
}

const status = (fields) => process.stderr.write(JSON.stringify(fields) + "\n");

const client = createClient({
  url: options.url,
  webSocketImpl: WebSocket,
  lazy: true,
  // A refused key (4403) or a slow-consumer close (4008) must end the run, not reconnect.
  retryAttempts: 0,
  connectionParams: options.key ? { Authorization: `Bearer ${options.key}` } : undefined,
  on: {
    connected: (_socket, payload) => status({ status: "connected", payload: payload ?? null }),
    closed: (event) => status({ status: "closed", code: event?.code ?? null, reason: event?.reason ?? "" }),
  },
});

let finished = false;
let received = 0;
let unsubscribe = () => {};

function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  try {
    unsubscribe();
  } catch {
    // already gone
  }
  // Flush stdout before exiting (pipes may be asynchronous).
  Promise.resolve(client.dispose())
    .catch(() => {})
    .finally(() => process.stdout.write("", () => process.exit(code)));
}

const timer = setTimeout(() => {
  status({ status: "timeout", seconds: timeoutSeconds, received });
  finish(2);
}, timeoutSeconds * 1000);

function describe(error) {
  if (error && typeof error === "object" && "code" in error && "reason" in error) {
    return { closed: true, code: error.code, reason: error.reason }; // a CloseEvent
  }
  if (Array.isArray(error)) return { errors: error }; // GraphQL errors of an `error` message
  return { message: error?.message ?? String(error) };
}

unsubscribe = client.subscribe(
  { query: options.query, variables },
  {
    next: (payload) => {
      if (finished) return;
      process.stdout.write(JSON.stringify(payload) + "\n");
      received += 1;
      if (received >= count) finish(0);
    },
    error: (error) => {
      if (finished) return;
      status({ status: "error", ...describe(error), received });
      finish(3);
    },
    complete: () => {
      if (finished) return;
      status({ status: "complete", received });
      finish(4);
    },
  },
);
