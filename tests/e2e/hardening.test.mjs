// Issue 20 — hardening, one describe per item of the issue, each test failing if its fix goes:
//   1. login CSRF at the portal: /login keeps portal_state; in Chromium the handoff page
//      (Referrer-Policy strict-origin) makes the POST carry its origin, which the assertion
//      names (`origin`, `channel`), on the subdomain and on a custom domain; the same
//      assertion replayed from another origin (or as an app assertion) is refused;
//   2. one `email_verified` rule for the ID token and userinfo;
//   3. a tenant host relays only its own tenant's callbacks (the apex relays any);
//   4. a tenant disabled or deleted after the login started: 404, nothing sent to the IdP;
//   5. member routes and the queue consumer never write a tenant record (CONFIG_KEY rotation);
//   6. abandoned requests leave nothing in the isolate (the executor's table, wasm memory);
//   7. the login-start rate limit (600 per IP and tenant a minute), 429 with nothing written;
//   8. scripts/check-deploy.sh fails on a broken wrangler.toml and passes on the real one.

import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { decodeJwt } from 'jose';
import { CookieJar, decodeEntities, describeChain, follow, listen, request } from '../support/http.mjs';
import { startStack, CALLBACK_PATH, awkwardSecret, completeLogin } from '../support/stack.mjs';
import { startBadOp } from '../support/bad-op.mjs';
import { PASSWORD } from '../support/op.mjs';
import { REPO_ROOT, generateSecrets, putTenant, startWorker, tenantConfig } from '../support/worker.mjs';
import { assertHtmlHeaders, assertNoHandoff } from '../support/assert.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WORKER_DIR = process.env.PORTAL_SSO_WORKER_DIR ? path.resolve(process.env.PORTAL_SSO_WORKER_DIR) : REPO_ROOT;
const execFileP = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A custom domain Chromium reaches through --host-resolver-rules (the worker serves it for acme). */
const CUSTOM_HOST = 'members.acme.test';
const APP_LINK = 'https://app.example.com/cb';

let stack;
let bad;
let browser;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`);
  bad = await startBadOp();
  stack = await startStack({ worker: { name: 'hardening' } });
});

after(async () => {
  await browser?.close().catch(() => {});
  await Promise.allSettled([stack?.stop(), bad?.close()]);
});

/** A tenant on its own bad-op authorization server (own issuer, own counters). */
async function badTenant(id, asOptions = {}, overrides = {}) {
  const as = bad.server(id, asOptions);
  const t = await stack.createTenant(id, { client_secret: awkwardSecret(), ...overrides }, { provider: as });
  return { as, tenant: t };
}

/** Runs fn over items with at most n at once. */
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

const callbackLine = (worker, mark, pred = () => true) =>
  worker.waitForLog((l) => l.route === CALLBACK_PATH && pred(l), { since: mark });

// ---------------------------------------------------------------------------------------------
describe('1. login CSRF at the portal: portal_state kept, origin-bound assertions', () => {
  let acme;
  let custom;

  before(async () => {
    custom = `http://${CUSTOM_HOST}:${stack.worker.port}`;
    acme = await stack.createTenant('acme', {
      custom_domains: [CUSTOM_HOST],
      extraRedirectUris: [`${custom}${CALLBACK_PATH}`],
      app_redirect_uris: [APP_LINK],
    });
    await stack.createTenant('acme-nopw', { password_login_disabled: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic',
        `--host-resolver-rules=MAP ${CUSTOM_HOST} 127.0.0.1`,
      ],
    });
  });

  test('GET /login keeps portal_state and return_to on the SSO link, and on the 302 when password login is disabled', async () => {
    const page = await request(`${acme.origin}/login?portal_state=abc&return_to=/x`);
    assert.equal(page.status, 200);
    const hrefs = [...page.body.matchAll(/href="([^"]*)"/g)].map((m) => new URL(decodeEntities(m[1]), page.url)).filter((u) => u.pathname === '/login/sso');
    assert.equal(hrefs.length, 1, `one SSO link on the login page: ${hrefs.map((u) => u.href)}`);
    assert.equal(hrefs[0].searchParams.get('portal_state'), 'abc', `SSO link ${hrefs[0].href}`);
    assert.equal(hrefs[0].searchParams.get('return_to'), '/x', `SSO link ${hrefs[0].href}`);

    const nopw = await request(`${stack.worker.tenantOrigin('acme-nopw')}/login?portal_state=abc&return_to=/x`);
    assert.equal(nopw.status, 302);
    const to = new URL(nopw.location);
    assert.equal(to.origin, stack.worker.tenantOrigin('acme-nopw'));
    assert.equal(to.pathname, '/login/sso');
    assert.equal(to.searchParams.get('portal_state'), 'abc', `302 to ${nopw.location}`);
    assert.equal(to.searchParams.get('return_to'), '/x', `302 to ${nopw.location}`);

    // Followed, the link's values end up in the assertion the portal checks against its session.
    const jar = new CookieJar('link');
    hrefs[0].searchParams.set('login_hint', 'alice');
    const start = await request(hrefs[0].href, { jar });
    const { next, chain } = await follow(start, { jar, stopBefore: (n) => new URL(n.url).pathname === CALLBACK_PATH });
    assert.ok(next, describeChain(chain));
    const done = await completeLogin({ portal: stack.portal, jar, callbackUrl: next.url });
    assert.ok(done.accepted, `refused: ${done.refused?.reason}`);
    assert.equal(done.accepted.claims.portal_state, 'abc');
    assert.equal(done.accepted.claims.return_to, '/x');
  });

  /** Records the handoff page's response headers and the POST the portal received, in one context. */
  function watch(page) {
    const seen = { handoff: null };
    page.on('response', (r) => {
      const u = new URL(r.url());
      if (u.pathname === CALLBACK_PATH && r.status() === 200) seen.handoff = { url: r.url(), headers: r.headers() };
    });
    return seen;
  }

  test('Chromium: a login on the subdomain is accepted; the assertion names that origin, channel web; the handoff page is strict-origin', { timeout: 120_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watch(page);
    const before = stack.portal.accepted.length;
    await page.goto(`${acme.origin}/login?portal_state=ps-sub.1&return_to=/desk`);
    await page.getByRole('link', { name: 'Sign in with Corporate Account' }).or(page.getByRole('button', { name: 'Sign in with Corporate Account' })).first().click();
    await page.waitForURL((u) => u.origin === stack.op.origin, { timeout: 15_000 });
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await Promise.all([page.waitForURL((u) => u.origin === stack.portal.url, { timeout: 30_000 }), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.getByRole('heading', { name: /Welcome, Alice Anderson/ }).waitFor({ timeout: 10_000 });
    assert.equal(stack.portal.accepted.length, before + 1, `accepted one (refused: ${JSON.stringify(stack.portal.refused.map((r) => r.reason))})`);
    const a = stack.portal.accepted.at(-1);
    assert.equal(a.claims.origin, acme.origin, 'origin claim: the subdomain that served the handoff page');
    assert.equal(a.claims.channel, 'web');
    assert.equal(a.origin, acme.origin, "the browser's POST carried the handoff page's origin");
    assert.equal(a.claims.portal_state, 'ps-sub.1');
    assert.equal(a.claims.return_to, '/desk');
    assert.ok(seen.handoff, 'the handoff page was seen');
    assert.equal(seen.handoff.headers['referrer-policy'], 'strict-origin', 'handoff page Referrer-Policy');
    await context.close();
  });

  test('Chromium: a login on the custom domain is accepted; origin claim and Origin are the custom domain', { timeout: 120_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watch(page);
    const before = stack.portal.accepted.length;
    // login_hint: the OP signs alice in without its form.
    await page.goto(`${custom}/login/sso?login_hint=alice&portal_state=ps-custom`);
    await page.waitForURL((u) => u.origin === stack.portal.url, { timeout: 30_000 });
    await page.getByRole('heading', { name: /Welcome, Alice Anderson/ }).waitFor({ timeout: 10_000 });
    assert.equal(stack.portal.accepted.length, before + 1, `accepted one (refused: ${JSON.stringify(stack.portal.refused.map((r) => r.reason))})`);
    const a = stack.portal.accepted.at(-1);
    assert.equal(a.claims.origin, custom, 'origin claim: the custom domain that served the handoff page');
    assert.equal(a.origin, custom, "the browser's POST carried the custom domain's origin");
    assert.equal(a.claims.channel, 'web');
    assert.equal(a.claims.iss, acme.origin, 'iss stays the tenant origin');
    assert.equal(a.claims.portal_state, 'ps-custom');
    assert.ok(seen.handoff?.url.startsWith(`${custom}${CALLBACK_PATH}`), `handoff served by the custom domain: ${seen.handoff?.url}`);
    assert.equal(seen.handoff.headers['referrer-policy'], 'strict-origin');
    await context.close();
  });

  test("Chromium: the attacker's own assertion auto-posted from another origin into a victim's browser is refused", { timeout: 120_000 }, async () => {
    // The attacker signs in (their own browser) and keeps the assertion instead of posting it.
    const handoffUrl = `${stack.portal.url}/sso/assertion`;
    const attacker = await browser.newContext();
    let captured = null;
    await attacker.route((u) => u.href === handoffUrl, async (route) => {
      captured = new URLSearchParams(route.request().postData() ?? '').get('assertion');
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!DOCTYPE html><p>kept</p>' });
    });
    const ap = await attacker.newPage();
    await ap.goto(`${acme.origin}/login/sso?login_hint=bob`);
    await ap.getByText('kept').waitFor({ timeout: 30_000 });
    await attacker.close();
    assert.ok(captured, 'the assertion was captured before it reached the portal');
    const claims = decodeJwt(captured);
    assert.equal(claims.email, 'bob@example.com');
    assert.equal(claims.origin, acme.origin);
    assert.equal(claims.channel, 'web');
    assert.ok(!stack.portal.accepted.some((x) => x.raw === captured) && !stack.portal.refused.some((x) => x.raw === captured), 'not yet seen by the portal');

    // The attacker's page, on its own origin, auto-posts it to the portal's handoff URL: once
    // with the browser's default referrer policy, once with no-referrer (Origin: null).
    const form = `<form method="post" action="${handoffUrl}"><input type="hidden" name="assertion" value="${captured}"></form><script>document.forms[0].submit()</script>`;
    const evil = await listen((req, res) => {
      const headers = { 'content-type': 'text/html; charset=utf-8' };
      if (req.url.startsWith('/quiet')) headers['referrer-policy'] = 'no-referrer';
      res.writeHead(200, headers);
      res.end(`<!DOCTYPE html><html><body><p>Win a prize!</p>${form}</body></html>`);
    });
    const evilOrigin = `http://evil.localhost:${evil.port}`;
    try {
      for (const [pathname, expectedOrigin] of [['/', evilOrigin], ['/quiet', 'null']]) {
        const victim = await browser.newContext();
        const vp = await victim.newPage();
        const refusedBefore = stack.portal.refused.length;
        await vp.goto(`${evilOrigin}${pathname}`);
        const r = await stack.portal.waitFor(() => stack.portal.refused.slice(refusedBefore).find((x) => x.raw === captured), 15_000, `the replay from ${pathname}`);
        assert.equal(r.origin, expectedOrigin, 'the POST carried the attacker page origin');
        assert.match(r.reason, /^Origin .* is not the origin claim/, r.reason);
        await victim.close();
      }
      assert.ok(!stack.portal.accepted.some((x) => x.raw === captured), 'the replayed assertion was never accepted');
    } finally {
      await evil.close();
    }
    // Control: the same assertion from the origin that served it passes, so the refusals above
    // were for the Origin alone.
    const ok = await request(handoffUrl, { method: 'POST', body: new URLSearchParams({ assertion: captured }), headers: { origin: acme.origin } });
    assert.equal(ok.status, 200, ok.body);
    assert.ok(stack.portal.accepted.some((x) => x.raw === captured));
  });

  test('an app assertion (channel app) posted at the handoff path is refused', async () => {
    const jar = new CookieJar('app');
    const verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    const u = new URL(`${acme.origin}/app/login`);
    for (const [k, v] of Object.entries({ redirect_uri: APP_LINK, state: 'st-app', code_challenge: challenge, code_challenge_method: 'S256', login_hint: 'alice' })) u.searchParams.set(k, v);
    const start = await request(u.href, { jar });
    const { next, chain } = await follow(start, { jar, stopBefore: (n) => n.url.startsWith(APP_LINK) });
    assert.ok(next, `reached the app: ${describeChain(chain)}`);
    const code = new URL(next.url).searchParams.get('code');
    const tok = await request(`${acme.origin}/app/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: APP_LINK, code_verifier: verifier }),
    });
    assert.equal(tok.status, 200, tok.body);
    const assertion = tok.json().assertion;
    assert.equal(decodeJwt(assertion).channel, 'app');
    const r = await request(`${stack.portal.url}/sso/assertion`, { method: 'POST', body: new URLSearchParams({ assertion }), headers: { origin: acme.origin } });
    assert.equal(r.status, 401);
    const rec = stack.portal.refused.find((x) => x.raw === assertion);
    assert.ok(rec, 'the portal refused it');
    assert.match(rec.reason, /channel "app" is not web/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('2. email_verified: one rule for the ID token and userinfo', () => {
  const OTHER = 'someone-else@example.com';

  test('userinfo saying email_verified true for another email does not verify the ID token email', async () => {
    const { as } = await badTenant('ev-other', { idTokenOmit: ['email_verified', 'name'], userinfoClaims: { email: OTHER, email_verified: true } });
    const s = await stack.signIn({ tenant: 'ev-other', jar: new CookieJar('ev1') });
    assert.ok(s.accepted, s.explain());
    assert.ok(as.counters.userinfo >= 1, 'userinfo was fetched');
    assert.equal(s.accepted.claims.email, 'erin@example.com');
    assert.equal(s.accepted.claims.email_verified, false, 'userinfo spoke about another address');

    // With allowed_email_domains the email must be verified: refused, with the gate's code.
    await badTenant('ev-other-gate', { idTokenOmit: ['email_verified', 'name'], userinfoClaims: { email: OTHER, email_verified: true } }, { allowed_email_domains: ['example.com'] });
    const mark = stack.worker.mark();
    const before = stack.portal.accepted.length;
    const g = await stack.signIn({ tenant: 'ev-other-gate', jar: new CookieJar('ev2') });
    assert.equal(g.final.status, 403, g.explain());
    assertNoHandoff(g, stack.portal, before);
    const line = await callbackLine(stack.worker, mark, (l) => l.status === 403);
    assert.equal(line.error, 'email_domain_unverified');

    // Control: the same email (ASCII case aside) in userinfo does count.
    await badTenant('ev-same-gate', { idTokenOmit: ['email_verified', 'name'], userinfoClaims: { email: 'ERIN@Example.com', email_verified: true } }, { allowed_email_domains: ['example.com'] });
    const c = await stack.signIn({ tenant: 'ev-same-gate', jar: new CookieJar('ev3') });
    assert.ok(c.accepted, c.explain());
    assert.equal(c.accepted.claims.email_verified, true);
  });

  test('"false", 0, "TRUE", "true" read the same in the ID token and in userinfo: not verified (403 email_unverified)', async () => {
    const { as: idAs } = await badTenant('ev-id');
    const { as: uiAs } = await badTenant('ev-ui', { idTokenOmit: ['email_verified', 'name'] });
    for (const value of ['false', 0, 'TRUE', 'true']) {
      for (const [tenant, as, set] of [
        ['ev-id', idAs, { claims: { email_verified: value } }],
        ['ev-ui', uiAs, { userinfoClaims: { email_verified: value } }],
      ]) {
        as.set(set);
        const mark = stack.worker.mark();
        const before = stack.portal.accepted.length;
        const s = await stack.signIn({ tenant, jar: new CookieJar(tenant) });
        const what = `${tenant} email_verified ${JSON.stringify(value)}`;
        assert.equal(s.final.status, 403, `${what}: ${s.explain()}`);
        assertNoHandoff(s, stack.portal, before);
        const line = await callbackLine(stack.worker, mark, (l) => l.status === 403);
        assert.equal(line.error, 'email_unverified', what);
      }
    }
    assert.ok(uiAs.counters.userinfo >= 4, 'userinfo was asked each time');
    // Control: JSON true, from either source, verifies.
    idAs.set({ claims: { email_verified: true } });
    uiAs.set({ userinfoClaims: { email_verified: true } });
    for (const tenant of ['ev-id', 'ev-ui']) {
      const s = await stack.signIn({ tenant, jar: new CookieJar(tenant) });
      assert.ok(s.accepted, `${tenant}: ${s.explain()}`);
      assert.equal(s.accepted.claims.email_verified, true, tenant);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe("3. cross-tenant bounce: only the apex relays another tenant's callback", () => {
  test("tenant B's host refuses A's callback (400, no redirect); the apex and A's custom domain relay it to A's start host", async () => {
    const host = 'sso.bounce-a.test';
    const aCustom = `http://${host}:${stack.worker.port}`;
    const a = await stack.createTenant('bounce-a', { custom_domains: [host], extraRedirectUris: [`${aCustom}${CALLBACK_PATH}`] });
    await stack.createTenant('bounce-b');
    const jar = new CookieJar('bounce');
    const s = await stack.startLogin({ tenant: 'bounce-a', jar });
    assert.ok(s.callbackUrl?.startsWith(`${a.origin}${CALLBACK_PATH}?`), describeChain(s.chain));
    const query = new URL(s.callbackUrl).search;

    const mark = stack.worker.mark();
    const onB = await request(`${stack.worker.tenantOrigin('bounce-b')}${CALLBACK_PATH}${query}`, { jar });
    assert.equal(onB.status, 400, `B's host: ${onB.status} ${onB.location ?? ''}`);
    assert.equal(onB.location, null, 'no redirect from B’s host');
    assertHtmlHeaders(onB, { what: "B's refusal" });
    const line = await callbackLine(stack.worker, mark, (l) => l.status === 400);
    assert.equal(line.error, 'unknown_state');

    const viaApex = await request(`${stack.worker.apex}${CALLBACK_PATH}${query}`, { jar });
    assert.equal(viaApex.status, 302, 'the apex relays');
    assert.equal(viaApex.location, s.callbackUrl, "to A's start host, query unchanged");

    const viaCustom = await request(`${aCustom}${CALLBACK_PATH}${query}`, { jar });
    assert.equal(viaCustom.status, 302, "A's custom domain relays its own tenant's login");
    assert.equal(viaCustom.location, s.callbackUrl);

    // B's refusal consumed nothing: the login still completes on A's host.
    const done = await completeLogin({ portal: stack.portal, jar, callbackUrl: s.callbackUrl });
    assert.ok(done.accepted, `refused: ${done.refused?.reason} (${done.final.status})`);
    assert.equal(done.accepted.claims.tenant, 'bounce-a');
  });
});

// ---------------------------------------------------------------------------------------------
describe('4. a tenant disabled or deleted after the login started', () => {
  for (const change of ['disabled', 'deleted']) {
    test(`${change}: the callback answers 404 and the token endpoint hears nothing`, async () => {
      const id = `gone-${change}`;
      const { as, tenant } = await badTenant(id);
      const jar = new CookieJar(id);
      const s = await stack.startLogin({ tenant: id, jar });
      assert.ok(s.callbackUrl, describeChain(s.chain));
      const r = change === 'disabled' ? await stack.worker.admin('PUT', `/admin/tenants/${id}`, { ...tenant.config, enabled: false, client_secret: undefined }) : await stack.worker.admin('DELETE', `/admin/tenants/${id}`);
      assert.equal(r.status, change === 'disabled' ? 200 : 204, r.body);
      const mark = stack.worker.mark();
      const before = stack.portal.accepted.length;
      const res = await completeLogin({ portal: stack.portal, jar, callbackUrl: s.callbackUrl });
      assert.equal(res.callback.status, 404, `callback after the tenant was ${change}: ${res.callback.status}`);
      assertNoHandoff(res, stack.portal, before);
      assertHtmlHeaders(res.callback, { what: '404 page' });
      const line = await callbackLine(stack.worker, mark, (l) => l.status === 404);
      assert.equal(line.error, change === 'disabled' ? 'tenant_disabled' : 'unknown_tenant');
      await sleep(200);
      assert.equal(as.counters.token, 0, 'nothing was sent to the token endpoint');
      assert.equal(as.counters.userinfo, 0);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe('5. no write from a stale read: member routes and the queue consumer leave the tenant record alone', () => {
  test('after a CONFIG_KEY rotation, sign-ins, a queued provisioning delivery, GET and the list leave tenant:ID byte-for-byte; admin writes change it', { timeout: 180_000 }, async () => {
    const persist = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-stale-'));
    const portal = stack.portal;
    const as = bad.server('stale');
    const clientSecret = awkwardSecret();
    const id = 'stale';
    let w1;
    let w2;
    try {
      w1 = await startWorker({ name: 'hardening-stale-old', persistTo: persist });
      const config = tenantConfig({ op: as, portal, clientId: 'client-stale', clientSecret, provision_new_users: true, provisioning_webhook_url: portal.webhookUrl });
      const put = await putTenant(w1, id, config);
      assert.equal(put.status, 201, put.body);
      portal.setWebhookSecrets(id, [{ label: 'current', secret: put.webhookSecret }]);
      const old = w1.secrets;
      await w1.stop();
      w1 = null;

      const fresh = generateSecrets();
      w2 = await startWorker({
        name: 'hardening-stale-rotated',
        persistTo: persist,
        secrets: { ADMIN_TOKEN: old.ADMIN_TOKEN, CONFIG_KEY: fresh.CONFIG_KEY, CONFIG_KEY_PREVIOUS: old.CONFIG_KEY },
      });
      portal.expectTenant(id, { iss: w2.tenantOrigin(id), aud: portal.url });
      const sealed = await w2.kvGet(`tenant:${id}`);
      assert.ok(sealed, 'the record is there, sealed under the previous key');
      const signInOn = (jarName) => stack.signIn({ worker: w2, tenant: id, jar: new CookieJar(jarName) });

      // A delivery that fails inside the request goes on the queue (429 Retry-After 30: at
      // once, first queue attempt 30 s later); the consumer opens the record with the
      // previous key — where a re-seal would have been written.
      as.set({ claims: { sub: '00uqueued00000000001', email: 'queued@example.com' } });
      portal.webhook.script.push({ status: 429, headers: { 'retry-after': '30' } });
      const queuedAt = Date.now();
      const q = await signInOn('queued');
      assert.equal(q.final.status, 503, q.explain());
      as.set({ claims: {} });

      // Meanwhile: member sign-ins (webhook answers 200), GET and the list.
      for (const n of [1, 2]) {
        const s = await signInOn(`member-${n}`);
        assert.ok(s.accepted, s.explain());
      }
      assert.equal(await w2.kvGet(`tenant:${id}`), sealed, 'sign-ins wrote nothing');
      const g = await w2.admin('GET', `/admin/tenants/${id}`);
      assert.equal(g.status, 200, g.body);
      assert.equal((await w2.admin('GET', '/admin/tenants')).status, 200);
      assert.equal(await w2.kvGet(`tenant:${id}`), sealed, 'GET and the list wrote nothing');

      const [d] = await portal.waitForDeliveries((x) => x.json?.data?.tenant === id && x.json?.data?.sub === '00uqueued00000000001' && x.at > queuedAt + 5_000 && x.verified, 75_000, 'the queued delivery');
      assert.ok(d.answered < 300, `queued delivery answered ${d.answered}`);
      await w2.waitForLog((l) => l.route === 'queue:provisioning' && l.outcome === 'delivered', { timeoutMs: 5_000 });
      await sleep(500);
      assert.equal(await w2.kvGet(`tenant:${id}`), sealed, 'the queue consumer wrote nothing');

      // Admin writes do re-seal: a webhook-secret rotation, then a PUT.
      const rot = await w2.admin('POST', `/admin/tenants/${id}/webhook-secret`);
      assert.equal(rot.status, 200, rot.body);
      const afterRotation = await w2.kvGet(`tenant:${id}`);
      assert.notEqual(afterRotation, sealed, 'the rotation rewrote the record');
      const rewrite = await w2.admin('PUT', `/admin/tenants/${id}`, g.json);
      assert.equal(rewrite.status, 200, rewrite.body);
      assert.notEqual(await w2.kvGet(`tenant:${id}`), afterRotation, 'the PUT rewrote the record');
    } finally {
      await Promise.allSettled([w1?.stop(), w2?.stop()]);
      fs.rmSync(persist, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// What /tmp experiments showed: under `wrangler dev` and under bare workerd, a client that
// disconnects does not cancel its request — the worker runs it to completion (the slow token
// exchange finishes, the response is thrown away) and request.signal never fires. Production
// cancels the request and fires request.signal (compat flag enable_request_signal), which the
// executor handles by dropping the request's task and freeing its promise slots; that path is
// covered by the unit tests in src/core/tasks.rs and src/core/slots.rs. What this test shows
// end to end: abandoned requests (during a slow token exchange, or mid-body) leave the
// executor's table and the promise slots as they were, and wasm memory flat, batch after batch.
describe('6. abandoned requests leave nothing behind in the isolate', () => {
  test('callbacks abandoned during a slow token exchange and POSTs abandoned mid-body: tasks and slots back to baseline, memory flat', { timeout: 150_000 }, async (t) => {
    const worker = await startWorker({ name: 'hardening-abandon' });
    try {
      const as = bad.server('abandon', { token: 'slow', slowMs: 1_500 });
      const id = 'abandon';
      const put = await putTenant(worker, id, tenantConfig({ op: as, portal: stack.portal, clientId: 'client-abandon', clientSecret: awkwardSecret() }));
      assert.equal(put.status, 201, put.body);
      const host = `${id}.localhost:${worker.port}`;
      // Under this load wrangler's local proxy now and then drops a connection ("socket hang
      // up") or a request: the requests that are not the abandoned ones are retried, on a fresh
      // connection each time.
      const retrying = async (what, fn) => {
        for (let attempt = 1; ; attempt += 1) {
          try {
            return await fn();
          } catch (e) {
            if (attempt >= 3 || !/socket hang up|ECONNRESET|timed out/.test(`${e.code} ${e.message}`)) throw e;
            t.diagnostic(`${what}: ${e.message}; again`);
            await sleep(250);
          }
        }
      };
      const fresh = { connection: 'close' };
      let slowestDiagMs = 0;
      let diagSent = 0;
      const diag = async () => {
        const t0 = Date.now();
        const r = await retrying('diag', () => (diagSent += 1) && request(`${worker.apex}/__diag/isolate`, { headers: fresh, timeoutMs: 10_000 }));
        slowestDiagMs = Math.max(slowestDiagMs, Date.now() - t0);
        assert.equal(r.status, 200, r.body);
        return r.json();
      };
      const baseline = await diag();
      assert.equal(baseline.tasks, 1, `the diag request is the only task: ${JSON.stringify(baseline)}`);

      /**
       * A raw request to the worker that the client abandons after `afterMs`, or once `until()`
       * holds (polled; at most 8 s).
       */
      const abandon = ({ method = 'GET', pathAndQuery, headers = {}, partialBody = null, afterMs = 150, until = null }) =>
        new Promise((resolve) => {
          const req = http.request({ host: '127.0.0.1', port: worker.port, method, path: pathAndQuery, headers: { host, ...headers }, setHost: false, agent: false });
          req.on('error', () => {});
          req.on('response', (res) => {
            res.on('error', () => {});
            res.resume();
          });
          if (partialBody) {
            req.flushHeaders();
            req.write(partialBody);
          } else {
            req.end();
          }
          const started = Date.now();
          const tick = () => {
            if (Date.now() - started >= afterMs && (!until || until() || Date.now() - started > 8_000)) {
              req.destroy();
              resolve();
            } else setTimeout(tick, 25);
          };
          setTimeout(tick, afterMs);
        });

      const waitForBaseline = async (what) => {
        const until = Date.now() + 15_000;
        let d;
        for (;;) {
          d = await diag();
          if (d.tasks === baseline.tasks && d.slots === baseline.slots) return d;
          if (Date.now() > until) assert.fail(`${what}: the isolate still holds ${JSON.stringify(d)} (baseline ${JSON.stringify(baseline)})`);
          await sleep(250);
        }
      };

      let wave = 0;
      let peakTasks = 0;
      let total = 0;
      /** One wave: `per` logins started and their callbacks abandoned, `per` POSTs abandoned mid-body. */
      const runWave = async (per) => {
        wave += 1;
        const ip = `203.0.113.${wave}`; // each wave its own address: the login-start limit is on
        // Logins started (pending login in KV, a code at the bad OP), their callbacks abandoned.
        const callbacks = await pool(Array.from({ length: per }), 16, async () => {
          const jar = new CookieJar('abandon');
          const start = await retrying('login start', () => request(`http://${host}/login/sso`, { jar, headers: { 'cf-connecting-ip': ip, ...fresh } }));
          assert.equal(start.status, 302, start.body);
          const authz = await retrying('authorize', () => request(start.location, { headers: fresh }));
          assert.equal(authz.status, 302);
          const cb = new URL(authz.location);
          return { pathAndQuery: `${cb.pathname}${cb.search}`, cookie: jar.header(authz.location), code: cb.searchParams.get('code') };
        });
        const tokenBefore = as.counters.token;
        const fired = [
          // Gone once the worker's token request for that code is at the (stalling) endpoint.
          ...callbacks.map((c) => abandon({ pathAndQuery: c.pathAndQuery, headers: { cookie: c.cookie }, until: () => !as.codes.has(c.code) })),
          // Declared 4000 bytes, sent 100, then gone.
          ...Array.from({ length: per }, () =>
            abandon({
              method: 'POST',
              pathAndQuery: CALLBACK_PATH,
              headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '4000' },
              partialBody: `state=${'s'.repeat(40)}&code=${'c'.repeat(51)}`,
            }),
          ),
        ];
        total += fired.length;
        await sleep(400);
        const during = await diag();
        peakTasks = Math.max(peakTasks, during.tasks);
        await Promise.all(fired);
        const settled = await waitForBaseline(`wave ${wave}`);
        t.diagnostic(`wave ${wave}: ${2 * per} abandoned, peak ${during.tasks} tasks; settled ${JSON.stringify(settled)}; slowest diag ${slowestDiagMs} ms`);
        assert.equal(as.counters.token - tokenBefore, per, 'every abandoned callback reached the slow token endpoint');
        return settled;
      };

      // wasm memory never shrinks: its high-water mark follows the most requests in flight at
      // once. So the first batch (400 abandoned requests) runs at the highest concurrency, and
      // the second, larger one (1000) in waves of half that: any growth after the first batch
      // is what abandoned requests left behind.
      const first = await runWave(200);
      const afterFirst = total;
      for (let i = 0; i < 5; i += 1) await runWave(100);
      const second = await diag();
      assert.ok(peakTasks > 100, `requests were in the table while their token exchange was slow (peak ${peakTasks})`);
      assert.ok(
        second.wasm_memory_bytes <= first.wasm_memory_bytes,
        `wasm memory grew from ${first.wasm_memory_bytes} to ${second.wasm_memory_bytes} bytes over ${total - afterFirst} more abandoned requests`,
      );
      // Under wrangler dev the abandoned callbacks ran to completion (a log line each); of the
      // POSTs abandoned mid-body, those that reached the worker failed to read their body (a
      // few never get past wrangler's proxy, which logs "Network connection lost" for each).
      const lines = worker.logLines().filter((l) => l.route === CALLBACK_PATH);
      const midBody = lines.filter((l) => l.method === 'POST' && l.error === 'unreadable_body').length;
      t.diagnostic(`${lines.filter((l) => l.method === 'GET').length} abandoned callbacks and ${midBody} mid-body POSTs logged by the worker, of ${total}; diag requests ${diagSent} sent, ${worker.logLines().filter((l) => l.route === '/__diag/isolate').length} logged`);
      assert.ok(midBody > 0, 'POSTs abandoned mid-body reached the worker');
    } finally {
      await worker.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('7. rate limit on login starts: 600 per IP and tenant a minute', () => {
  test('the 601st start from one IP is 429 with Retry-After and writes nothing; another IP or tenant still starts; /login/initiate and /app/login count too', { timeout: 240_000 }, async (t) => {
    const { as } = await badTenant('rl', {}, { app_redirect_uris: [APP_LINK] });
    await badTenant('rl-other');
    const origin = stack.worker.tenantOrigin('rl');
    const challenge = crypto.createHash('sha256').update('v'.repeat(43)).digest('base64url');
    const headers = (addr) => ({ 'cf-connecting-ip': addr, connection: 'close' });
    const starts = (ip) => ({
      '/login/sso': (o = origin, addr = ip) => request(`${o}/login/sso`, { headers: headers(addr) }),
      '/login/initiate': () => request(`${origin}/login/initiate?iss=${encodeURIComponent(as.issuer)}`, { headers: headers(ip) }),
      '/app/login': () =>
        request(`${origin}/app/login?${new URLSearchParams({ redirect_uri: APP_LINK, state: 'rl', code_challenge: challenge, code_challenge_method: 'S256' })}`, { headers: headers(ip) }),
    });

    // The local counters are fixed 60 s windows (every key starts again at a minute boundary):
    // begin with most of a window left, and start over (another address) if one ends anyway.
    for (let attempt = 1; ; attempt += 1) {
      const ip = `198.51.100.${70 + attempt}`;
      const start = starts(ip);
      // Pending logins before: every allowed start adds one, a refused one none.
      const pending0 = (await stack.worker.kvList('pending:')).length;
      const left = 60_000 - (Date.now() % 60_000);
      if (left < 15_000) await sleep(left + 250);
      const window = Math.floor(Date.now() / 60_000);
      const t0 = Date.now();

      const kinds = [...Array(300).fill(start['/login/sso']), ...Array(150).fill(start['/login/initiate']), ...Array(150).fill(start['/app/login'])];
      const answers = await pool(kinds, 12, (f) => f());
      const over = [];
      const mark = stack.worker.mark();
      for (const what of ['/login/sso', '/login/initiate', '/app/login']) over.push([what, await start[what]()]);
      // While that client is limited: another address at the same tenant, the same address at another tenant.
      const otherIp = await start['/login/sso'](origin, `198.51.100.${170 + attempt}`);
      const otherTenant = await start['/login/sso'](stack.worker.tenantOrigin('rl-other'), ip);
      t.diagnostic(`attempt ${attempt}: 605 requests in ${Date.now() - t0} ms`);
      if (Math.floor(Date.now() / 60_000) !== window) {
        assert.ok(attempt < 2, 'two attempts each crossed a rate-limit window');
        continue;
      }

      const notRedirect = answers.filter((r) => r.status !== 302);
      assert.deepEqual(notRedirect.map((r) => `${r.status} ${r.url}`).slice(0, 5), [], '600 starts, each a 302 to the IdP');
      for (const [what, r] of over) {
        assert.equal(r.status, 429, `${what} over the limit: ${r.status} ${r.location ?? ''}`);
        assert.match(r.headers['retry-after'] ?? '', /^\d+$/, `${what}: Retry-After`);
        assert.equal(r.location, null);
        assert.deepEqual(r.setCookies, [], `${what}: no cookie set`);
        assertHtmlHeaders(r, { what: `${what} 429 page` });
      }
      assert.equal(otherIp.status, 302, 'another address still starts');
      assert.equal(otherTenant.status, 302, 'the same address still starts at another tenant');
      const limited = await stack.worker.waitForLog((l) => l.status === 429, { since: mark });
      assert.equal(limited.error, 'rate_limited');
      // 600 + the 2 allowed since; none from the 3 refused.
      assert.equal((await stack.worker.kvList('pending:')).length, pending0 + 602, 'no pending login written over the limit');
      return;
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('8. deployability: scripts/check-deploy.sh', () => {
  /** A checkout-like directory with the built worker and a (possibly edited) wrangler.toml. */
  function stage(edit = (t) => t) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-deploy-'));
    fs.cpSync(path.join(WORKER_DIR, 'build'), path.join(dir, 'build'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'wrangler.toml'), edit(fs.readFileSync(path.join(WORKER_DIR, 'wrangler.toml'), 'utf8')));
    fs.copyFileSync(path.join(REPO_ROOT, 'wrangler.forwarder.toml'), path.join(dir, 'wrangler.forwarder.toml'));
    fs.mkdirSync(path.join(dir, 'scripts'));
    for (const f of ['check-deploy.sh', 'build-worker.sh']) fs.copyFileSync(path.join(REPO_ROOT, 'scripts', f), path.join(dir, 'scripts', f));
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    return dir;
  }

  async function check(dir) {
    try {
      const { stdout, stderr } = await execFileP('bash', [path.join(dir, 'scripts', 'check-deploy.sh')], { env: { ...process.env, PORTAL_SSO_PREBUILT: '1' }, maxBuffer: 16 << 20 });
      return { code: 0, out: stdout + stderr };
    } catch (e) {
      return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const replace = (from, to) => (t) => {
    assert.ok(t.includes(from), `wrangler.toml contains ${from}`);
    return t.replace(from, to);
  };

  test('passes on the real wrangler.toml', { timeout: 60_000 }, async () => {
    const r = await check(stage());
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /wrangler\.toml ok/);
    assert.match(r.out, /wrangler\.forwarder\.toml ok/);
  });

  const broken = {
    'the Durable Object migration removed': [replace('[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["AppCode"]\n', ''), /warned about wrangler\.toml|migration/i],
    'the Durable Object class renamed': [(t) => t.replaceAll('"AppCode"', '"AppCodeRenamed"'), /not exported|AppCodeRenamed/],
    'a rate limit with a period of 30 s': [replace('simple = { limit = 600, period = 60 }', 'simple = { limit = 600, period = 30 }'), /period/],
    'the login-start rate limit removed': [replace('[[ratelimits]]\nname = "LOGIN_START_LIMIT"\nnamespace_id = "4103"\nsimple = { limit = 600, period = 60 }\n', ''), /LOGIN_START_LIMIT/],
  };
  for (const [what, [edit, why]] of Object.entries(broken)) {
    test(`fails with ${what}`, { timeout: 60_000 }, async () => {
      const r = await check(stage(edit));
      assert.notEqual(r.code, 0, `check-deploy passed:\n${r.out}`);
      assert.match(r.out, why);
    });
  }
});
