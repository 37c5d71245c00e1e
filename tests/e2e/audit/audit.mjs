// The GraphQL-over-HTTP conformance audit (graphql-http's auditServer) against one URL.
// Prints one JSON line per audit ({id, name, status, reason}) and exits 1 on any warn or error.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <url>');
  process.exit(2);
}
const results = await auditServer({ url });
for (const result of results) {
  const reason = result.status === 'ok' ? undefined : result.reason;
  console.log(JSON.stringify({ id: result.id, name: result.name, status: result.status, reason }));
}
process.exit(results.every((result) => result.status === 'ok') ? 0 : 1);
