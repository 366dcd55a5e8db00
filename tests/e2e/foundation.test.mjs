// Issue 2 — the worker runs under `wrangler dev` and answers the basics: /healthz, 404 on
// unknown routes and hosts, 405 on wrong methods, 413/414 on oversize input, one
// structured JSON log line per request, no secret in its output.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../support/http.mjs';
import { startWorker } from '../support/worker.mjs';
import { assertLogLine, assertNoSecrets, assertHtmlHeaders } from '../support/assert.mjs';

let worker;

before(async () => {
  worker = await startWorker({ name: 'foundation' });
});

after(async () => {
  await worker?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assertSmallClearAnswer(res, what) {
  assert.ok(res.body.length < 16 * 1024, `${what}: small answer`);
  assert.doesNotMatch(res.body, /panicked|RuntimeError|unreachable|wasm-function|at .*\.rs:\d+/i, `${what}: no panic or stack trace`);
  if (/text\/html/i.test(res.headers['content-type'] ?? '')) assertHtmlHeaders(res, { what });
}

test('GET /healthz on the apex answers 200 ok', async () => {
  const res = await request(`${worker.apex}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(res.body.trim(), 'ok');
});

test('unknown paths on the apex and unknown hosts get 404', async () => {
  // A Host longer than DNS allows would not even fit a KV key (512 bytes): still a 404.
  const longHost = `${Array(10).fill('a'.repeat(59)).join('.')}.example.test`;
  for (const url of [`${worker.apex}/nope`, `${worker.apex}/login`, `${worker.apex}/login/sso`, `http://nobody.localhost:${worker.port}/login`, `http://unknown.example.test:${worker.port}/login`, `http://${longHost}:${worker.port}/login`]) {
    const res = await request(url);
    assert.equal(res.status, 404, `${url} → ${res.status}`);
    assertSmallClearAnswer(res, url);
  }
});

test('a wrong method gets 405 with an Allow header', async () => {
  for (const [method, path] of [['POST', '/healthz'], ['DELETE', '/healthz'], ['POST', '/.well-known/jwks.json'], ['PUT', '/.well-known/jwks.json']]) {
    const res = await request(`${worker.apex}${path}`, { method, body: method === 'DELETE' ? undefined : '' });
    assert.equal(res.status, 405, `${method} ${path} → ${res.status}`);
    assert.match(res.headers.allow ?? '', /GET/, `${method} ${path}: Allow names GET`);
    assertSmallClearAnswer(res, `${method} ${path}`);
  }
});

test('a method the worker does not know is refused (405), never taken for GET', async () => {
  const auth = { authorization: `Bearer ${worker.adminToken}` };
  for (const [method, path, headers] of [['PROPFIND', '/healthz'], ['PURGE', '/authorization-code/callback?code=a&state=b'], ['PROPFIND', '/admin/tenants', auth], ['SEARCH', '/.well-known/jwks.json']]) {
    const mark = worker.mark();
    const res = await request(`${worker.apex}${path}`, { method, headers });
    assert.equal(res.status, 405, `${method} ${path} → ${res.status}`);
    assert.ok(res.headers.allow && !res.headers.allow.includes(method), `${method} ${path}: Allow ${res.headers.allow}`);
    // Log lines trail their responses: the earlier test's 405s may still arrive after `mark`.
    const line = await worker.waitForLog((l) => l.status === 405 && l.method === method, { since: mark });
    assert.equal(line.method, method, 'the log line names the method sent');
  }
});

test('oversize callback query gets 414 and oversize callback body gets 413', async () => {
  const big = 'x'.repeat(9 * 1024);
  const q = await request(`${worker.apex}/authorization-code/callback?state=${big}&code=abc`);
  assert.equal(q.status, 414, `query over 8 KiB → ${q.status}`);
  assertSmallClearAnswer(q, 'oversize query');
  const b = await request(`${worker.apex}/authorization-code/callback`, {
    method: 'POST',
    body: new URLSearchParams({ state: big, code: 'abc' }),
  });
  assert.equal(b.status, 413, `body over 8 KiB → ${b.status}`);
  assertSmallClearAnswer(b, 'oversize body');
  // A form_post whose query is over 8 KiB: its query is not read, but the bound holds.
  const pq = await request(`${worker.apex}/authorization-code/callback?pad=${big}`, {
    method: 'POST',
    body: new URLSearchParams({ state: 'x', code: 'abc' }),
  });
  assert.equal(pq.status, 414, `POST with a query over 8 KiB → ${pq.status}`);
});

test('oversize admin body gets 413', async () => {
  const res = await worker.admin('PUT', '/admin/tenants/bigbody', { client_id: 'x', padding: 'p'.repeat(70 * 1024) });
  assert.equal(res.status, 413, `admin body over 64 KiB → ${res.status}`);
});

test('garbage input never produces a 500', async () => {
  const probes = [
    request(`${worker.apex}/authorization-code/callback?state=%ZZ&code=%`),
    request(`${worker.apex}/authorization-code/callback`, { method: 'POST', body: Buffer.from([0xff, 0xfe, 0x00, 0x41]), headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    request(`${worker.apex}/admin/tenants/x`, { method: 'PUT', body: '{"unterminated', headers: { authorization: `Bearer ${worker.adminToken}`, 'content-type': 'application/json' } }),
    request(`${worker.apex}/%00%ff/../..`),
    request(`http://${'a'.repeat(63)}.localhost:${worker.port}/login?return_to=%00`),
  ];
  for (const res of await Promise.all(probes)) {
    assert.ok(res.status >= 400 && res.status < 500, `${res.method} ${res.url.slice(0, 80)} → ${res.status} (expected a 4xx)`);
    assertSmallClearAnswer(res, res.url.slice(0, 80));
  }
});

test('one structured JSON log line per request, with the SPEC fields', async () => {
  await sleep(300);
  const mark = worker.mark();
  const ok = await request(`${worker.apex}/healthz`);
  const missing = await request(`${worker.apex}/definitely-missing`);
  const method = await request(`${worker.apex}/healthz`, { method: 'POST', body: '' });
  assert.deepEqual([ok.status, missing.status, method.status], [200, 404, 405]);
  const lines = await (async () => {
    const until = Date.now() + 5_000;
    for (;;) {
      const l = worker.logLines(mark);
      if (l.length >= 3 || Date.now() > until) return l;
      await sleep(100);
    }
  })();
  await sleep(500);
  const all = worker.logLines(mark);
  assert.equal(all.length, 3, `expected exactly 3 log lines, got:\n${worker.outputSince(mark)}`);
  assert.deepEqual(lines.map((l) => l.status), [200, 404, 405]);
  assertLogLine(all[0], { failure: false });
  assertLogLine(all[1], { failure: true });
  assertLogLine(all[2], { failure: true });
  // A log line is one JSON object on its own line.
  for (const line of worker.outputSince(mark).split('\n')) {
    if (line.includes('"duration_ms"')) assert.doesNotThrow(() => JSON.parse(line.trim()), `not a one-line JSON object: ${line}`);
  }
});

test('no secret appears in the worker output', async () => {
  const key = JSON.parse(worker.secrets.HANDOFF_SIGNING_KEY);
  assertNoSecrets(worker.output(), [worker.secrets.ADMIN_TOKEN, worker.secrets.CONFIG_KEY, key.d, worker.secrets.HANDOFF_SIGNING_KEY], 'wrangler output');
});
