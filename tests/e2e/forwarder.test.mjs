// Issue 6 — forwarder mode: a second `wrangler dev` with FORWARD_TO in front of the hosted
// worker. A whole sign-in against the real OP through it; a form_post callback re-posted
// with 307; every parameter carried over in order and correctly encoded; only the callback
// and /healthz served; an invalid FORWARD_TO answers 503 to everything.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { CookieJar, request } from '../support/http.mjs';
import { startStack, startLogin, completeLogin, CALLBACK_PATH } from '../support/stack.mjs';
import { startWorker } from '../support/worker.mjs';
import { assertNoSecrets, assertLogLine } from '../support/assert.mjs';

let stack;
let fwd;
let broken;
let tenant;
let fwdCallback;

before(async () => {
  stack = await startStack({ worker: { name: 'hosted' } });
  const hostedOrigin = stack.worker.tenantOrigin('acme');
  [fwd, broken] = await Promise.all([
    startWorker({ name: 'forwarder', forwardTo: hostedOrigin }),
    // not an https origin, and a path: invalid
    startWorker({ name: 'forwarder-broken', forwardTo: 'https://acme.example.com/some/path', ready: (r) => r.status === 503 }),
  ]);
  fwdCallback = `http://selfhosted.localhost:${fwd.port}${CALLBACK_PATH}`;
  tenant = await stack.createTenant('acme', { redirect_uri: fwdCallback, extraRedirectUris: [fwdCallback] });
});

after(async () => {
  await Promise.allSettled([stack?.stop(), fwd?.stop(), broken?.stop()]);
});

/** Parses a Location into [name, value] pairs, the way the hosted worker will. */
const pairs = (location) => [...new URL(location).searchParams];

describe('forwarding', () => {
  test('a whole sign-in through the forwarder with the real provider', async () => {
    const j = new CookieJar('fwd');
    const s = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'alice', jar: j });
    assert.equal(new URL(s.start.location).searchParams.get('redirect_uri'), fwdCallback);
    assert.ok(s.callbackUrl?.startsWith(`${fwdCallback}?`), `the provider sends the member to the forwarder: ${s.callbackUrl}`);
    const hop = await request(s.callbackUrl, { jar: j });
    assert.equal(hop.status, 302);
    assert.equal(hop.body, '', 'empty body');
    const loc = new URL(hop.location);
    assert.equal(loc.origin, tenant.origin);
    assert.equal(loc.pathname, CALLBACK_PATH);
    assert.deepEqual(pairs(hop.location), [...new URL(s.callbackUrl).searchParams], 'every parameter, in order');
    const done = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: s.callbackUrl });
    assert.ok(done.accepted, `${done.final.status} ${done.final.body.slice(0, 300)}`);
    assert.equal(done.accepted.claims.email, 'alice@example.com');
    const tok = stack.op.log.token.at(-1);
    assert.equal(tok.redirectUri, fwdCallback, 'the code is exchanged with the forwarder redirect_uri');
  });

  test('a form_post callback is re-posted (307) to the hosted worker and completes there', async () => {
    const j = new CookieJar('formpost');
    const s = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'bob', jar: j });
    const params = new URL(s.callbackUrl).searchParams;
    const body = new URLSearchParams(params);
    const hop = await request(fwdCallback, { method: 'POST', body, jar: j });
    assert.equal(hop.status, 307);
    assert.equal(hop.location, `${tenant.origin}${CALLBACK_PATH}`, 'no query: the body is re-posted');
    assert.equal(hop.body, '');
    const mark = stack.worker.mark();
    const done = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: fwdCallback, callbackMethod: 'POST', callbackBody: body });
    assert.equal(done.chain[1].method, 'POST', 'the callback arrived at the hosted worker as a POST');
    assert.ok(done.accepted, `${done.final.status} ${done.final.body.slice(0, 300)}`);
    assert.equal(done.accepted.claims.email, 'bob@example.com');
    const line = await stack.worker.waitForLog((l) => /callback/.test(l.route) && l.status === 200, { since: mark });
    assertLogLine(line, { failure: false });
  });

  test('parameters with &, #, +, =, %, spaces, Unicode, empty values and repeats are preserved in order', async () => {
    const sets = [
      [['error', 'access_denied'], ['error_description', 'User & friends #1 + 2 = 3 100% sure'], ['state', 'abc']],
      [['code', 'a+b/c=='], ['state', 's t'], ['iss', 'https://acme.okta.com/oauth2/default'], ['extra', 'x'], ['extra', 'y'], ['empty', '']],
      [['error_description', 'Ünïcödé ✓ 日本語 😀'], ['weird name&=', 'v&=#'], ['state', '%2F%41']],
    ];
    for (let i = 0; i < 20; i += 1) {
      const n = 1 + (i % 5);
      const set = [];
      for (let k = 0; k < n; k += 1) {
        const pick = () => ['&', '=', '#', '+', '%', ' ', 'é', '✓', '😀', '/', '?', ';', crypto.randomBytes(2).toString('hex'), ''][crypto.randomInt(14)];
        set.push([`p${pick()}${k % 2}`, Array.from({ length: crypto.randomInt(6) }, pick).join('')]);
      }
      sets.push(set);
    }
    for (const set of sets) {
      const q = new URLSearchParams(set).toString();
      const r = await request(`${fwdCallback}?${q}`);
      assert.equal(r.status, 302, `${q} → ${r.status}`);
      assert.equal(r.body, '');
      assert.ok(r.headers.location.startsWith(`${tenant.origin}${CALLBACK_PATH}?`), r.headers.location);
      assert.doesNotMatch(r.headers.location, /[\s#]|[^\x21-\x7e]/, 'Location is fully percent-encoded');
      assert.deepEqual(pairs(r.headers.location), set, `parameters of ${q}`);
    }
  });

  test('nothing is reflected: markup in parameters never appears in a body', async () => {
    const r = await request(`${fwdCallback}?error=x&error_description=${encodeURIComponent('<script>alert(1)</script>')}`);
    assert.equal(r.status, 302);
    assert.ok(!r.body.includes('<script>'));
  });

  test('only the callback and /healthz are served', async () => {
    assert.equal((await request(`${fwd.apex}/healthz`)).status, 200);
    for (const [method, path] of [['GET', '/login'], ['GET', '/login/sso'], ['GET', '/.well-known/jwks.json'], ['GET', '/admin/tenants'], ['GET', '/logout'], ['GET', '/']]) {
      const r = await request(`http://selfhosted.localhost:${fwd.port}${path}`, { method, headers: { authorization: `Bearer ${fwd.adminToken}` } });
      assert.equal(r.status, 404, `${method} ${path} → ${r.status}`);
    }
    // A wrong method on a served path: 405 with Allow, and like every forwarder answer no body.
    for (const [method, path, allow] of [['POST', '/healthz', 'GET, HEAD'], ['PUT', CALLBACK_PATH, 'GET, HEAD, POST'], ['DELETE', CALLBACK_PATH, 'GET, HEAD, POST']]) {
      const r = await request(`http://selfhosted.localhost:${fwd.port}${path}`, { method });
      assert.equal(r.status, 405, `${method} ${path} → ${r.status}`);
      assert.equal(r.headers.allow, allow, `${method} ${path}: Allow`);
      assert.equal(r.body, '', `${method} ${path}: empty body`);
    }
  });

  test('oversize query → 414, oversize body → 413', async () => {
    const big = 'z'.repeat(9 * 1024);
    assert.equal((await request(`${fwdCallback}?code=${big}`)).status, 414);
    assert.equal((await request(fwdCallback, { method: 'POST', body: new URLSearchParams({ code: big }) })).status, 413);
    assert.equal((await request(`${fwdCallback}?pad=${big}`, { method: 'POST', body: new URLSearchParams({ code: 'c' }) })).status, 414, 'a POST with a query over 8 KiB');
  });
});

describe('invalid FORWARD_TO', () => {
  test('every request answers 503 and the log says what is wrong', async () => {
    for (const path of [`${CALLBACK_PATH}?code=x&state=y`, '/healthz', '/login']) {
      const r = await request(`${broken.apex}${path}`);
      assert.equal(r.status, 503, `${path} → ${r.status}`);
      assert.ok(!r.headers.location, 'no redirect');
    }
    // Log lines reach wrangler's stdout asynchronously, after the response: wait for them.
    let lines = broken.logLines();
    for (let waited = 0; lines.length < 3 && waited < 5_000; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
      lines = broken.logLines();
    }
    assert.ok(lines.length >= 3, 'one log line per request');
    for (const l of lines) assert.match(`${l.error ?? ''} ${l.detail ?? ''}`, /forward_to/i, `the log line says FORWARD_TO is wrong: ${JSON.stringify(l)}`);
  });
});

test('no secret in either worker output', async () => {
  const secrets = [...stack.op.log.secrets, tenant.clientSecret, stack.worker.adminToken, fwd.adminToken];
  assertNoSecrets(stack.worker.output(), secrets, 'hosted worker output');
  assertNoSecrets(fwd.output(), secrets, 'forwarder output');
});
