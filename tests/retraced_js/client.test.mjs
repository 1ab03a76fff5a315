// The official Retraced Node client (@retracedhq/retraced, from package-lock.json), unmodified,
// against a live site. tests/test_retraced_js_client.py starts the site and runs this with:
//   RETRACED_ENDPOINT    the site's root URL (the client appends /publisher/v1/...)
//   RETRACED_API_KEY     a token with audit:write and audit:read
//   RETRACED_PROJECT_ID  the token's project (default)
// Run by hand against any site: RETRACED_ENDPOINT=... RETRACED_API_KEY=... node --test tests/retraced_js/
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { Client } from "@retracedhq/retraced";

const { RETRACED_ENDPOINT, RETRACED_API_KEY, RETRACED_PROJECT_ID = "default" } = process.env;
if (!RETRACED_ENDPOINT || !RETRACED_API_KEY) {
  throw new Error("Set RETRACED_ENDPOINT and RETRACED_API_KEY (see this file's header).");
}

const client = new Client({
  endpoint: RETRACED_ENDPOINT,
  apiKey: RETRACED_API_KEY,
  projectId: RETRACED_PROJECT_ID,
  component: "client-test",
  version: "abc123",
});
// Every run gets groups of its own, so a site already holding events answers the same way.
const run = randomUUID().slice(0, 8);
const group = { id: `acme-${run}`, name: "Acme Corp" };
const otherGroup = { id: `globex-${run}`, name: "Globex" };
const actor = { id: "alice@acme.example", name: "Alice", href: "https://acme.example/alice" };
const HEX32 = /^[0-9a-f]{32}$/;

test("reportEvent: the server's id and hash pass the client's own hash check", async () => {
  // reportEvent throws when the hash the server returns differs from computeHash's.
  const id = await client.reportEvent({
    action: "user.login",
    crud: "c",
    group,
    actor: { ...actor, fields: { department: "Finance" } },
    target: { id: "session-1", name: "Session", type: "session", fields: { ttl: "3600" } },
    source_ip: "192.0.2.10",
    description: "Alice signed in",
    is_failure: false,
    fields: { quote: "a:b;c=d\\e", empty: "" },
    external_id: `ext-${run}`,
    metadata: { request: "r-1" },
    created: new Date("2026-01-02T03:04:05.678Z"),
  });
  assert.match(id, HEX32);

  const anonymous = await client.reportEvent({
    action: "page.view",
    crud: "r",
    group,
    is_anonymous: true,
    target: { id: "page-1" },
  });
  assert.match(anonymous, HEX32);
});

test("reportEvents: one id per event, in input order, each hash checked", async () => {
  const events = [];
  for (let i = 0; i < 25; i += 1) {
    events.push({
      action: i % 2 ? "document.update" : "document.create",
      crud: i % 2 ? "u" : "c",
      group,
      actor,
      target: { id: `doc-${i}`, name: `Document ${i}`, type: "document" },
      description: `Document ${i} changed`,
    });
  }
  const ids = await client.reportEvents(events);
  assert.equal(ids.length, events.length);
  for (const id of ids) assert.match(id, HEX32);
  assert.equal(new Set(ids).size, ids.length);

  // Another group's event, which no search of the first group may return.
  const [other] = await client.reportEvents([
    { action: "document.create", crud: "c", group: otherGroup, actor, target: { id: "doc-x" } },
  ]);
  assert.match(other, HEX32);
});

test("getViewerToken: a token for the group", async () => {
  const token = await client.getViewerToken(group.id, actor.id, false);
  assert.equal(typeof token, "string");
  assert.ok(token.length >= 16, `a viewer token, not ${JSON.stringify(token)}`);
  const adminToken = await client.getViewerToken(group.id, actor.id, true);
  assert.notEqual(adminToken, token);
});

test("query: an EventsConnection pages through a group's events", async () => {
  const mask = {
    id: true,
    action: true,
    crud: true,
    description: true,
    group: { id: true, name: true },
    actor: { id: true, name: true, href: true, fields: true },
    target: { id: true, name: true, type: true, fields: true },
    display: { markdown: true },
    created: true,
    received: true,
    canonical_time: true,
    is_failure: true,
    is_anonymous: true,
    component: true,
    version: true,
    fields: true,
    external_id: true,
    metadata: true,
  };
  const pageSize = 10;
  // The publisher's search is not scoped to a group; the run's actor and actions pick ours.
  const connection = await client.query(
    { action: "document.*", actor_id: actor.id },
    mask,
    pageSize,
  );
  const seen = [];
  for (;;) {
    assert.ok(connection.currentResults.length <= pageSize);
    seen.push(...connection.currentResults);
    if (!connection.hasNextPage()) break;
    await connection.nextPage();
  }
  const ours = seen.filter((event) => event.group?.id === group.id);
  assert.equal(ours.length, 25, `25 document events of ${group.id}, got ${ours.length}`);
  assert.ok(connection.totalCount >= 26, `totalCount ${connection.totalCount}`);
  assert.equal(connection.totalPages(), Math.ceil(connection.totalCount / pageSize));
  assert.equal(new Set(seen.map((event) => event.id)).size, seen.length, "no event twice");
  // Newest first, as `last` pages are.
  const times = seen.map((event) => event.canonical_time.getTime());
  assert.deepEqual(
    times,
    [...times].sort((a, b) => b - a),
  );
  const first = ours.find((event) => event.target.id === "doc-0");
  assert.equal(first.action, "document.create");
  assert.equal(first.crud, "c");
  assert.equal(first.actor.name, "Alice");
  assert.equal(first.target.type, "document");
  assert.equal(first.component, "client-test");
  assert.equal(first.version, "abc123");
  assert.ok(first.created instanceof Date && !Number.isNaN(first.created.getTime()));

  // Fields come back as [{key, value}]; the client turns `fields` and the actor's and
  // target's into maps, and leaves `metadata` as the list (formatRawEventNode).
  const login = await client.query({ action: "user.login", actor_id: actor.id }, mask, 5);
  const signedIn = login.currentResults.find((event) => event.group?.id === group.id);
  assert.ok(signedIn, "the user.login event");
  assert.deepEqual(signedIn.fields, { quote: "a:b;c=d\\e", empty: "" });
  assert.deepEqual(signedIn.actor.fields, { department: "Finance" });
  assert.deepEqual(signedIn.metadata, [{ key: "request", value: "r-1" }]);
  assert.equal(signedIn.external_id, `ext-${run}`);
  // Retraced formats times with moment's format(): whole seconds.
  assert.equal(signedIn.created.toISOString(), "2026-01-02T03:04:05.000Z");
});

test("a wrong key is refused with the client's own error", async () => {
  const stranger = new Client({
    endpoint: RETRACED_ENDPOINT,
    apiKey: "not-a-real-key",
    projectId: RETRACED_PROJECT_ID,
  });
  await assert.rejects(
    stranger.reportEvent({ action: "x", crud: "c", group, actor }),
    /Unexpected HTTP response: 401/,
  );
});
