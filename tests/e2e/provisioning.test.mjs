// Issue 5 — the provisioning webhook against a receiver that verifies Standard Webhooks
// signatures: provisioned:true on creation, retries with one webhook-id, a receiver down
// past the 8 s budget (503 page, then delivery through the queue), 403 final with no retry,
// 429 with Retry-After, secret rotation (two signatures), provisioning off sends nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CookieJar, assertSpecPhrase } from '../support/http.mjs';
import { startStack } from '../support/stack.mjs';
import { assertHtmlHeaders, assertNoHandoff, assertNoSecrets, assertLogLine } from '../support/assert.mjs';

let stack;
const webhookSecrets = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let forbiddenAt = null;

before(async () => {
  stack = await startStack({ worker: { name: 'provisioning' } });
});

after(async () => {
  await stack?.stop();
});

async function provTenant(id, overrides = {}) {
  const t = await stack.createTenant(id, { provision_new_users: true, provisioning_webhook_url: stack.portal.webhookUrl, ...overrides });
  if (t.webhookSecret) webhookSecrets.push(t.webhookSecret);
  return t;
}

const forTenant = (id) => (d) => d.json?.data?.tenant === id;
const deliveries = (id) => stack.portal.webhook.deliveries.filter(forTenant(id));

function assertDeliveryShape(d, { tenant, user }) {
  const u = stack.op.users.find((x) => x.username === user);
  assert.equal(d.verified, true, `signature verifies with the tenant's secret: ${d.verifyError}`);
  assert.match(d.headers['content-type'] ?? '', /application\/json/);
  assert.match(d.headers['webhook-id'] ?? '', /^[A-Za-z0-9_.:-]{1,}$/);
  assert.match(d.headers['webhook-timestamp'] ?? '', /^\d{10}$/);
  assert.ok(Math.abs(Number(d.headers['webhook-timestamp']) - d.at / 1000) < 30, 'timestamp is current');
  assert.ok(d.signatures.every((s) => s.startsWith('v1,')), `v1 signatures: ${d.signatures}`);
  const b = d.json;
  assert.equal(b.type, 'contact.provision');
  assert.ok(!Number.isNaN(Date.parse(b.timestamp)) && /Z$/.test(b.timestamp), `RFC 3339 UTC timestamp: ${b.timestamp}`);
  assert.deepEqual(
    { tenant: b.data.tenant, issuer: b.data.issuer, sub: b.data.sub, email: b.data.email, email_verified: b.data.email_verified, name: b.data.name, given_name: b.data.given_name, family_name: b.data.family_name, locations: b.data.locations },
    { tenant, issuer: stack.op.issuer, sub: u.sub, email: u.email, email_verified: u.email_verified, name: u.name, given_name: u.given_name, family_name: u.family_name, locations: 'all' },
  );
}

describe('provisioning', () => {
  test('first sign-in creates the contact: signed delivery, provisioned:true', async () => {
    await provTenant('prov-new');
    stack.portal.webhook.script.push(201);
    const s = await stack.signIn({ tenant: 'prov-new', user: 'alice' });
    assert.ok(s.accepted, s.explain());
    assert.equal(s.accepted.claims.provisioned, true);
    const list = deliveries('prov-new');
    assert.equal(list.length, 1);
    assertDeliveryShape(list[0], { tenant: 'prov-new', user: 'alice' });
  });

  test('200 {"created":true} also means provisioned; {"created":false} does not', async () => {
    await provTenant('prov-body');
    stack.portal.webhook.script.push({ status: 200, body: { created: true } });
    const a = await stack.signIn({ tenant: 'prov-body', user: 'alice' });
    assert.equal(a.accepted?.claims.provisioned, true, a.explain());
    stack.portal.webhook.script.push({ status: 200, body: { created: false } });
    const b = await stack.signIn({ tenant: 'prov-body', user: 'alice' });
    assert.equal(b.accepted?.claims.provisioned, false, b.explain());
    const list = deliveries('prov-body');
    assert.equal(list.length, 2);
    assert.equal(list[0].headers['webhook-id'], list[1].headers['webhook-id'], 'same member → same webhook-id');
  });

  test('500, 500, then 201: one handoff, three deliveries with the same webhook-id', async () => {
    await provTenant('prov-retry');
    stack.portal.webhook.script.push(500, 500, 201);
    const before = stack.portal.accepted.length;
    const s = await stack.signIn({ tenant: 'prov-retry', user: 'bob' });
    assert.ok(s.accepted, s.explain());
    assert.equal(stack.portal.accepted.length, before + 1, 'exactly one handoff');
    assert.equal(s.accepted.claims.provisioned, true);
    const list = deliveries('prov-retry');
    assert.equal(list.length, 3, `deliveries: ${list.map((d) => d.answered)}`);
    assert.deepEqual(list.map((d) => d.answered), [500, 500, 201]);
    assert.equal(new Set(list.map((d) => d.headers['webhook-id'])).size, 1, 'one webhook-id for all attempts');
    for (const d of list) assertDeliveryShape(d, { tenant: 'prov-retry', user: 'bob' });
    // Other members get other ids.
    stack.portal.webhook.script.push(201);
    await stack.signIn({ tenant: 'prov-retry', user: 'alice' });
    assert.notEqual(deliveries('prov-retry').at(-1).headers['webhook-id'], list[0].headers['webhook-id']);
  });

  test('429 with Retry-After is retried', async () => {
    await provTenant('prov-429');
    stack.portal.webhook.script.push({ status: 429, headers: { 'retry-after': '1' } }, 201);
    const s = await stack.signIn({ tenant: 'prov-429', user: 'alice' });
    assert.ok(s.accepted, s.explain());
    const list = deliveries('prov-429');
    assert.deepEqual(list.map((d) => d.answered), [429, 201]);
    assert.ok(list[1].at - list[0].at >= 900, `waited for Retry-After (${list[1].at - list[0].at} ms)`);
  });

  test('429 with Retry-After as an HTTP-date is retried at that date (counted from the answer\'s Date)', async () => {
    await provTenant('prov-429-date');
    const base = Math.floor(Date.now() / 1000) * 1000;
    const headers = { date: new Date(base).toUTCString(), 'retry-after': new Date(base + 3000).toUTCString() };
    stack.portal.webhook.script.push({ status: 429, headers }, 201);
    const s = await stack.signIn({ tenant: 'prov-429-date', user: 'alice' });
    assert.ok(s.accepted, s.explain());
    const list = deliveries('prov-429-date');
    assert.deepEqual(list.map((d) => d.answered), [429, 201]);
    assert.ok(list[1].at - list[0].at >= 2_900, `waited for the Retry-After date (${list[1].at - list[0].at} ms)`);
  });

  test('403 is final: error page, no handoff, no retry', async () => {
    await provTenant('prov-403');
    stack.portal.webhook.script.push(403);
    const before = stack.portal.accepted.length;
    const s = await stack.signIn({ tenant: 'prov-403', user: 'alice' });
    assert.equal(s.final.status, 403, s.explain());
    assertNoHandoff(s, stack.portal, before);
    assertHtmlHeaders(s.final, { what: '403 page' });
    forbiddenAt = Date.now();
    await sleep(3_000);
    assert.equal(deliveries('prov-403').length, 1, 'no retry inside the request');
  });

  test('provisioning off: no webhook call at all', async () => {
    await stack.createTenant('prov-off', { provision_new_users: false, provisioning_webhook_url: stack.portal.webhookUrl });
    const total = stack.portal.webhook.deliveries.length;
    const s = await stack.signIn({ tenant: 'prov-off', user: 'bob' });
    assert.ok(s.accepted, s.explain());
    assert.equal(s.accepted.claims.provisioned, false);
    await sleep(1_000);
    assert.equal(stack.portal.webhook.deliveries.length, total, 'nothing was delivered');
  });

  test('secret rotation: for a while deliveries carry a signature under each secret', async () => {
    const t = await provTenant('prov-rotate');
    const r = await stack.worker.admin('POST', '/admin/tenants/prov-rotate/webhook-secret');
    assert.equal(r.status, 200, r.body);
    webhookSecrets.push(r.json.webhook_secret);
    stack.portal.setWebhookSecrets('prov-rotate', [{ label: 'old', secret: t.webhookSecret }, { label: 'new', secret: r.json.webhook_secret }]);
    stack.portal.webhook.script.push(201);
    const s = await stack.signIn({ tenant: 'prov-rotate', user: 'alice' });
    assert.ok(s.accepted, s.explain());
    const d = deliveries('prov-rotate').at(-1);
    assert.deepEqual(d.verifiedWith.sort(), ['new', 'old'], `signatures: ${d.signatures.length}`);
    assert.equal(d.signatures.length, 2);
  });

  test('receiver down past the 8 s budget: try-again page (503), then the queue delivers once it is back', { timeout: 150_000 }, async () => {
    await provTenant('prov-down');
    stack.portal.webhook.mode = 'down';
    const j = new CookieJar('down');
    const before = stack.portal.accepted.length;
    const t0 = Date.now();
    const s = await stack.signIn({ tenant: 'prov-down', user: 'bob', jar: j });
    const took = Date.now() - t0;
    assert.equal(s.final.status, 503, s.explain());
    assertNoHandoff(s, stack.portal, before);
    assertHtmlHeaders(s.final, { what: 'try-again page' });
    assertSpecPhrase(s.final.body, 'provisioningPending');
    assert.ok(took < 15_000, `the member waited ${took} ms (budget 8 s)`);
    const attempts = stack.portal.webhook.deliveries.filter((d) => d.refusedConnection && d.at >= t0).length;
    assert.ok(attempts >= 2, `retried inside the request (${attempts} attempts)`);

    // Back up: the queued delivery arrives (first retry within 60 s).
    await sleep(1_000);
    stack.portal.webhook.mode = 'up';
    stack.portal.webhook.fallback = { status: 201 };
    const upAt = Date.now();
    const [d] = await stack.portal.waitForDeliveries((x) => forTenant('prov-down')(x) && x.at >= upAt && x.verified, 95_000, 'the queued delivery');
    assertDeliveryShape(d, { tenant: 'prov-down', user: 'bob' });
    stack.portal.webhook.fallback = { status: 200, body: { created: false } };

    // …and the member can now sign in.
    const again = await stack.signIn({ tenant: 'prov-down', user: 'bob', jar: j });
    assert.ok(again.accepted, again.explain());
    // The in-request attempts (refused connections, recorded without a body), the queued one
    // and the later sign-in's: one webhook-id.
    const inRequest = stack.portal.webhook.deliveries.filter((x) => x.refusedConnection && x.at >= t0 && x.at < upAt);
    assert.ok(inRequest.length >= 2, `${inRequest.length} in-request attempts recorded`);
    const all = [...inRequest, ...deliveries('prov-down')];
    const ids = new Set(all.map((x) => x.headers['webhook-id']));
    assert.ok(!ids.has(undefined), 'every attempt carried a webhook-id');
    assert.equal(ids.size, 1, `request, queue and later deliveries share the webhook-id (${all.length} deliveries)`);
  });

  test('the 403 delivery was never retried, not even through the queue', { timeout: 90_000 }, async () => {
    assert.ok(forbiddenAt, 'the 403 test ran');
    await sleep(Math.max(0, forbiddenAt + 65_000 - Date.now()));
    assert.equal(deliveries('prov-403').length, 1);
  });
});

test('log lines and no secret in the worker output', async () => {
  const lines = stack.worker.logLines();
  assert.ok(lines.length >= 10, `${lines.length} log lines`);
  for (const l of lines) assertLogLine(l);
  assertNoSecrets(stack.worker.output(), [...webhookSecrets, ...webhookSecrets.map((s) => s.slice(6)), ...stack.op.log.secrets, stack.worker.adminToken], 'wrangler output');
});
