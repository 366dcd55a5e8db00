// Issue 19 — the operator's settings page on the apex (SPEC "Settings page"):
//   * platform staff with the ADMIN_TOKEN (no ACCESS_* var): the sign-in form, its Origin check
//     and rate limit, the stateless HMAC cookie (bad HMAC, expired, made before a rotation of
//     ADMIN_TOKEN), sign-out; the CSRF token and the Origin on every POST after sign-in;
//   * the pages: list, create (the seed's wording, "Advanced"), field errors by their fields
//     with what was typed kept (never the secret) and nothing stored — every invalid field of
//     the admin API's tests, now through the form —, the tenant id, the URIs to register in
//     Okta, the webhook secret shown once, Test connection, rotation, delete with a
//     confirmation, HTML escaped everywhere;
//   * one ACCESS_* var without the other: 503 on every /settings request;
//   * Cloudflare Access: the test signs tokens with its own RSA key and serves the certs on
//     loopback; an admin sees and edits only the tenants listing their email, and can neither
//     create, delete, nor change custom_domains / settings_admins; bad tokens are 403;
//   * in headless Chromium: staff create a tenant on the real OP end to end (a field error
//     fixed, Test connection, the copy button) and a member signs in to it; an Access admin
//     edits their tenant and cannot open the other; keyboard use and JavaScript off.
// Every refusal asserts its log line's `error` code. Screenshots go to test-artifacts/.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { CookieJar, decodeEntities, freePort, listen, pageText, parseForms, request } from '../support/http.mjs';
import { CALLBACK_PATH, awkwardSecret, startStack } from '../support/stack.mjs';
import { PASSWORD } from '../support/op.mjs';
import { REPO_ROOT, putTenant, startWorker, tenantConfig } from '../support/worker.mjs';
import { assertHtmlHeaders, assertLogLine, assertNoSecrets } from '../support/assert.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const COOKIE = 'portal_sso_settings';
const WHSEC = /^whsec_[A-Za-z0-9+/]{43}=$/;
/** A marker no page may ever contain unescaped. */
const PWN = '<x-pwn>';
const PWN_ESCAPED = '&lt;x-pwn&gt;';

let stack; // token mode: real OP, fake portal, worker
let access; // Access mode: { worker, certs server, keys, aud, iss }
let misconfigured = []; // [{ worker, missing }]
let rotation; // { persist, first }
let browser;
/** The create form's path, as the list's "New tenant" link gives it. */
let CREATE = '/settings/new';
const extraWorkers = [];
/** Workers stopped during the run: their captured output is still checked at the end. */
const stoppedWorkers = [];
/** Values that must never reach a worker's output. */
const secretsSeen = [];

let ipCounter = 0;
/** Every client gets its own CF-Connecting-IP, so the sign-in limit meets only the test about it. */
const nextIp = () => {
  ipCounter += 1;
  return `198.51.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Cloudflare Access, played by the test: an RSA key, certs on loopback, tokens signed here.

async function rsaKey(kid) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, jwk, kid };
}

async function startAccess() {
  const keys = { main: await rsaKey(`access-${crypto.randomBytes(4).toString('hex')}`) };
  const served = [keys.main.jwk];
  const fetches = [];
  const server = await listen((req, res) => {
    if (req.url === '/cdn-cgi/access/certs') {
      fetches.push(Date.now());
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: served, public_cert: { kid: served[0].kid, cert: '-----BEGIN CERTIFICATE-----\n…' } }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const teamDomain = `127.0.0.1:${server.port}`;
  const aud = crypto.randomBytes(32).toString('hex');
  const iss = `http://${teamDomain}`;
  const worker = await startWorker({ name: 'settings-access', vars: { ACCESS_TEAM_DOMAIN: teamDomain, ACCESS_AUD: aud } });
  return { server, worker, keys, served, fetches, aud, iss, teamDomain };
}

/** An Access token as Cloudflare Access signs it (RS256, iss = team origin, aud = [AUD]). */
async function accessToken({ email = 'ada@example.com', sub = 'ada-sub-0001', aud, iss, exp, iat, key, kid, omit = [] } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: aud ?? [access.aud],
    email,
    exp: exp ?? now + 900,
    iat: iat ?? now,
    nbf: iat ?? now,
    iss: iss ?? access.iss,
    type: 'app',
    identity_nonce: crypto.randomBytes(8).toString('hex'),
    sub,
    country: 'XX',
  };
  for (const k of omit) delete claims[k];
  const signer = key ?? access.keys.main;
  const token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: kid ?? signer.kid, typ: 'JWT' }).sign(signer.privateKey);
  secretsSeen.push(token);
  return token;
}

// ---------------------------------------------------------------------------------------
// HTTP clients of the settings page.

/**
 * A browser-like client of one worker's apex: a cookie jar, its own CF-Connecting-IP, extra
 * headers (the Access token), and POSTs carrying the apex Origin unless told otherwise.
 */
function client(worker, { headers = {}, jar = new CookieJar(), ip = nextIp() } = {}) {
  const base = { 'cf-connecting-ip': ip, ...headers };
  const c = {
    jar,
    ip,
    worker,
    get: (p, h = {}) => request(`${worker.apex}${p}`, { jar, headers: { ...base, ...h } }),
    /** origin: the Origin header (default the apex), null for none. */
    post: (p, fields, { origin = worker.apex, headers: h = {} } = {}) =>
      request(`${worker.apex}${p}`, {
        method: 'POST',
        jar,
        body: fields instanceof URLSearchParams ? fields : new URLSearchParams(fields),
        headers: { ...base, ...(origin === null ? {} : { origin }), ...h },
      }),
    async signIn(token = worker.adminToken) {
      const r = await c.post('/settings/sign-in', { token });
      assert.equal(r.status, 303, `sign-in → ${r.status} ${pageText(r.body).slice(0, 200)}`);
      const v = c.cookie();
      assert.ok(v, 'the sign-in set the session cookie');
      secretsSeen.push(v);
      return r;
    },
    cookie: () => jar.matching(`${worker.apex}/settings`).find((k) => k.name === COOKIE)?.value ?? null,
    /** The CSRF token of this session, from the list page. */
    async csrf() {
      const r = await c.get('/settings');
      assert.equal(r.status, 200, `GET /settings → ${r.status}`);
      return csrfOf(r.body);
    },
  };
  return c;
}

async function staff(worker = stack.worker) {
  const c = client(worker);
  await c.signIn();
  return c;
}

function csrfOf(html) {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  assert.ok(m, 'the page carries a csrf field');
  return decodeEntities(m[1]);
}

/** The form of a page whose action is `pathname`. */
function formOf(res, pathname) {
  const f = parseForms(res.body, res.url).find((x) => new URL(x.action).pathname === pathname);
  assert.ok(f, `no form posting to ${pathname} on ${res.url} (${res.status}): ${pageText(res.body).slice(0, 300)}`);
  return f;
}

/** The form's fields with changes applied (undefined removes a field, as a tampered form). */
function withChanges(form, changes = {}) {
  const fields = new URLSearchParams(form.fields);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) fields.delete(k);
    else fields.set(k, v);
  }
  return fields;
}

const hasSignInForm = (res) => /action="\/settings\/sign-in"/.test(res.body) && /name="token"/.test(res.body);
const isSignInPage = (res) => res.status === 200 && hasSignInForm(res);
const isSignedInPage = (res) => res.status === 200 && /action="\/settings\/sign-out"/.test(res.body);

/** SPEC for settings pages: same-origin referrer policy, no-store, frame-ancestors 'none', strict CSP. */
function settingsHeaders(res, what = res.url) {
  assertHtmlHeaders(res, { perMember: true, referrer: 'same-origin', what });
}

/**
 * Sends a request that must be refused with `status`, and finds its log line: route
 * /settings, that status and the `error` code `code`.
 */
async function expectRefused(worker, what, status, code, send) {
  const mark = worker.mark();
  const res = await send();
  assert.equal(res.status, status, `${what}: ${res.status} ${pageText(res.body).slice(0, 300)}`);
  let line;
  try {
    line = await worker.waitForLog((l) => l.route === '/settings' && l.status === status && l.error === code, { since: mark, timeoutMs: 4_000 });
  } catch {
    const lines = worker.logLines(mark).filter((l) => l.route === '/settings');
    assert.fail(`${what}: no /settings log line with status ${status} and error ${code}; got ${JSON.stringify(lines)}`);
  }
  assertLogLine(line, { failure: true });
  if (/html/.test(res.headers['content-type'] ?? '')) settingsHeaders(res, what);
  assert.equal((res.setCookies ?? []).filter((c) => c.startsWith(`${COOKIE}=`) && !/Max-Age=0/.test(c)).length, 0, `${what}: a refusal sets no session cookie`);
  return { res, line };
}

/** The node:crypto twin of the worker's staff cookie: `{id}.{expiry}.{hmac}`. */
function craftCookie(adminToken, { id = crypto.randomBytes(32).toString('base64url'), expires = Math.floor(Date.now() / 1000) + 3600 } = {}) {
  const key = crypto.createHmac('sha256', adminToken).update('portal-sso settings cookie v1').digest();
  const mac = crypto.createHmac('sha256', key).update(`${id}.${expires}`).digest('base64url');
  return `${id}.${expires}.${mac}`;
}

/** The `<div class="field…">` of a form field (they do not nest). */
function fieldBlock(html, name) {
  for (const m of html.matchAll(/<div class="field[^"]*">[\s\S]*?<\/div>/g)) {
    if (new RegExp(`\\sname="${name}"`).test(m[0])) return m[0];
  }
  return null;
}

function fieldsWithErrors(html) {
  const out = [];
  for (const m of html.matchAll(/<div class="field[^"]*">[\s\S]*?<\/div>/g)) {
    if (/class="field-error"/.test(m[0])) out.push(/\sname="([^"]+)"/.exec(m[0])?.[1]);
  }
  return out;
}

/**
 * The field's message sits in its own block, and its control says so (aria-invalid, described
 * by it). `ariaProblems`: collect a missing aria marking there instead of failing at once (the
 * caller asserts the list is empty after its other checks).
 */
function assertFieldError(html, name, what, message, ariaProblems = null) {
  const block = fieldBlock(html, name);
  assert.ok(block, `${what}: no field ${name} on the page`);
  const err = new RegExp(`<p class="field-error" id="${name}-error">([^<]+)</p>`).exec(block);
  assert.ok(err, `${what}: no error message next to ${name}: ${block}`);
  if (message) assert.match(decodeEntities(err[1]), message, `${what}: message of ${name}`);
  const control = new RegExp(`<(?:input|textarea|select)\\b[^>]*\\sname="${name}"[^>]*>`).exec(block)?.[0] ?? '';
  const described = /aria-describedby="([^"]*)"/.exec(control)?.[1] ?? '';
  const aria = [];
  if (!/\saria-invalid="true"/.test(control) || !described.split(/\s+/).includes(`${name}-error`)) {
    aria.push(`${what}: ${control} lacks aria-invalid="true" or aria-describedby="${name}-error …"`);
  }
  if (ariaProblems) ariaProblems.push(...aria);
  else assert.deepEqual(aria, [], `${what}: the control is marked invalid and described by its message`);
  return decodeEntities(err[1]);
}

async function tenantJson(worker, id) {
  const g = await worker.admin('GET', `/admin/tenants/${id}`);
  return g.status === 200 ? g.json : null;
}

async function tenantCount(worker) {
  const g = await worker.admin('GET', '/admin/tenants');
  assert.equal(g.status, 200);
  return g.json.tenants.length;
}

/** A tenant through the admin API, pointing at the real OP (no client registered there). */
async function apiTenant(worker, id, overrides = {}) {
  const secret = awkwardSecret();
  secretsSeen.push(secret);
  const cfg = tenantConfig({ op: stack.op, portal: stack.portal, clientId: `cid-${id}`, clientSecret: secret, ...overrides });
  const r = await putTenant(worker, id, cfg);
  assert.equal(r.status, 201, `PUT ${id} → ${r.status} ${r.body}`);
  if (r.webhookSecret) secretsSeen.push(r.webhookSecret);
  return r;
}

/** The create form filled with a valid tenant on the real OP; `changes` on top. */
async function newTenantForm(c, id, changes = {}) {
  const page = await c.get(CREATE);
  assert.equal(page.status, 200, `GET new → ${page.status}`);
  const secret = awkwardSecret();
  secretsSeen.push(secret);
  const fields = withChanges(formOf(page, CREATE), {
    id,
    okta_domain: stack.op.tenantFields().okta_domain,
    client_id: `cid-${id.replace(/\s/g, '_')}`,
    client_secret: secret,
    portal_url: stack.portal.url,
    ...changes,
  });
  return { fields, secret: fields.get('client_secret') ?? secret };
}

function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return page.screenshot({ path: path.join(ARTIFACTS, `settings-${name}.png`), fullPage: true });
}

function watchProblems(page) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return problems;
}

const cspProblems = (problems) => problems.filter((p) => /Content Security Policy|Refused to/i.test(p));

// ---------------------------------------------------------------------------------------

before(async () => {
  // A missing browser is a failure, not a skip.
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (the setup step installs Debian's chromium)`);
  rotation = { persist: fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-settings-rot-')) };
  const started = await Promise.allSettled([
    startStack({ worker: { name: 'settings' } }),
    startAccess(),
    startWorker({ name: 'settings-team-only', vars: { ACCESS_TEAM_DOMAIN: 'team.cloudflareaccess.com' } }),
    startWorker({ name: 'settings-aud-only', vars: { ACCESS_AUD: 'c0ffee' } }),
    startWorker({ name: 'settings-rot', persistTo: rotation.persist }),
  ]);
  [stack, access] = started.slice(0, 2).map((s) => (s.status === 'fulfilled' ? s.value : null));
  if (started[2].status === 'fulfilled') misconfigured.push({ worker: started[2].value, missing: 'ACCESS_AUD', set: 'ACCESS_TEAM_DOMAIN' });
  if (started[3].status === 'fulfilled') misconfigured.push({ worker: started[3].value, missing: 'ACCESS_TEAM_DOMAIN', set: 'ACCESS_AUD' });
  if (started[4].status === 'fulfilled') rotation.first = started[4].value;
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  for (const w of [stack.worker, access.worker, rotation.first, ...misconfigured.map((m) => m.worker)]) secretsSeen.push(w.adminToken);
  const list = await (await staff()).get('/settings');
  const link = /<a\b[^>]*href="([^"]+)"[^>]*>New tenant<\/a>/.exec(list.body);
  assert.ok(link, 'the tenant list has a "New tenant" link');
  CREATE = decodeEntities(link[1]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await Promise.allSettled([
    stack?.stop(),
    access?.worker.stop(),
    access?.server.close(),
    rotation?.first?.stop(),
    ...misconfigured.map((m) => m.worker.stop()),
    ...extraWorkers.map((w) => w.stop()),
  ]);
  if (rotation?.persist) fs.rmSync(rotation.persist, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------

describe('platform staff sign in with the ADMIN_TOKEN (no ACCESS_* var)', () => {
  test('without a cookie: GET /settings is the sign-in form, other pages send there, POSTs are refused; tenant hosts have no /settings', async () => {
    const { worker } = stack;
    const c = client(worker);
    const home = await c.get('/settings');
    assert.ok(isSignInPage(home), `GET /settings → ${home.status}: ${pageText(home.body).slice(0, 200)}`);
    settingsHeaders(home, 'the sign-in page');
    assert.match(home.body, /<label for="token">Admin token<\/label>/);
    assert.match(home.body, /<input id="token" name="token" type="password"/);
    assert.equal(home.setCookies.length, 0, 'no cookie before sign-in');
    for (const p of [CREATE, '/settings/tenants/acme', '/settings/sign-in']) {
      const r = await c.get(p);
      assert.equal(r.status, 303, `GET ${p} → ${r.status}`);
      assert.equal(new URL(r.location).pathname, '/settings', `GET ${p} → ${r.location}`);
    }
    const before = await tenantCount(worker);
    await expectRefused(worker, 'POST new without a session', 403, 'settings_not_signed_in', () =>
      c.post(CREATE, { id: 'no-session', okta_domain: stack.op.tenantFields().okta_domain, client_id: 'x', client_secret: 'y', portal_url: stack.portal.url, csrf: 'x' }),
    );
    await expectRefused(worker, 'POST sign-out without a session', 403, 'settings_not_signed_in', () => c.post('/settings/sign-out', { csrf: 'x' }));
    assert.equal(await tenantCount(worker), before, 'nothing created');
    // The apex only: on a tenant host (or an unknown one) there is no settings page.
    await apiTenant(worker, 'hostcheck');
    for (const host of [worker.tenantOrigin('hostcheck'), `http://elsewhere.example.test:${worker.port}`]) {
      const r = await request(`${host}/settings`);
      assert.equal(r.status, 404, `${host}/settings → ${r.status}`);
      const p = await request(`${host}/settings/sign-in`, { method: 'POST', body: new URLSearchParams({ token: worker.adminToken }), headers: { origin: host, 'cf-connecting-ip': nextIp() } });
      assert.equal(p.status, 404, `POST ${host}/settings/sign-in → ${p.status}`);
      assert.ok(!p.setCookies.some((s) => s.startsWith(COOKIE)), 'no session cookie from a tenant host');
    }
  });

  test('the sign-in POST needs the apex Origin: none, another site, a tenant host or "null" → 403, even with the right token', async () => {
    const { worker } = stack;
    const c = client(worker);
    for (const origin of [null, 'http://evil.example', worker.tenantOrigin('hostcheck'), 'null', `${worker.apex}/`, `https://localhost:${worker.port}`]) {
      await expectRefused(worker, `sign-in with Origin ${origin}`, 403, 'settings_origin', () => c.post('/settings/sign-in', { token: worker.adminToken }, { origin }));
    }
    assert.equal(c.cookie(), null, 'no session cookie');
  });

  test('a wrong token gets 401 with a generic message; the right one 303 and a cookie (HttpOnly, SameSite=Strict, 8 h) that never holds the token', async () => {
    const { worker } = stack;
    const c = client(worker);
    const t = worker.adminToken;
    const texts = [];
    for (const wrong of ['wrong', `${t}x`, t.slice(0, -1), '', t.toUpperCase() === t ? t.toLowerCase() : t.toUpperCase()]) {
      const { res } = await expectRefused(worker, `sign-in with a wrong token (${wrong.length} chars)`, 401, 'settings_wrong_token', () => c.post('/settings/sign-in', { token: wrong }));
      assert.ok(hasSignInForm(res), 'the sign-in form again');
      assert.match(pageText(res.body), /not the admin token/i);
      if (wrong.length >= 4) assert.ok(!res.body.includes(wrong), 'the page does not echo what was typed');
      assert.ok(!res.body.includes(t), 'the page does not hold the token');
      texts.push(pageText(res.body));
    }
    assert.equal(new Set(texts).size, 1, 'the same message whatever was wrong (nothing to learn from it)');
    assert.equal(c.cookie(), null);

    const r = await c.post('/settings/sign-in', { token: t });
    assert.equal(r.status, 303, `right token → ${r.status}`);
    assert.equal(new URL(r.location).pathname, '/settings');
    const set = r.setCookies.find((s) => s.startsWith(`${COOKIE}=`));
    assert.ok(set, `Set-Cookie ${COOKIE}: ${JSON.stringify(r.setCookies)}`);
    const attrs = set.split(';').map((s) => s.trim());
    const value = attrs[0].slice(COOKIE.length + 1);
    secretsSeen.push(value);
    const lower = attrs.slice(1).map((a) => a.toLowerCase());
    assert.ok(lower.includes('httponly'), `HttpOnly: ${set}`);
    assert.ok(lower.includes('samesite=strict'), `SameSite=Strict: ${set}`);
    assert.ok(lower.includes('path=/'), `Path=/: ${set}`);
    assert.ok(lower.includes('max-age=28800'), `Max-Age=28800 (8 h): ${set}`);
    assert.ok(!lower.includes('secure'), `no Secure under LOCAL_DEV: ${set}`);
    assert.ok(!lower.some((a) => a.startsWith('domain')), `host-only: ${set}`);
    assert.ok(!set.startsWith('__Host-'), 'no __Host- prefix under LOCAL_DEV');
    // {id}.{expiry}.{hmac}: a random id, its expiry, an HMAC — never the token.
    const m = /^([A-Za-z0-9_-]{43})\.(\d+)\.([A-Za-z0-9_-]{43})$/.exec(value);
    assert.ok(m, `cookie value shape: ${value.replace(/[A-Za-z0-9_-]{20,}/g, '…')}`);
    const expiry = Number(m[2]);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(expiry - (now + 8 * 3600)) < 120, `expiry in 8 h (${expiry - now} s)`);
    for (const form of [t, Buffer.from(t).toString('base64'), Buffer.from(t).toString('base64url'), encodeURIComponent(t)]) {
      assert.ok(!value.includes(form), 'the cookie does not carry the token');
    }
    const home = await c.get('/settings');
    assert.ok(isSignedInPage(home), `signed in: ${pageText(home.body).slice(0, 200)}`);
    settingsHeaders(home, 'the tenant list');
    assert.ok(!home.body.includes(t), 'no page holds the token');
    const line = await worker.waitForLog((l) => l.route === '/settings' && l.status === 303 && l.outcome === 'signed_in');
    assertLogLine(line, { failure: false });
    // A second sign-in is a second session: another id.
    const c2 = client(worker);
    await c2.signIn();
    assert.notEqual(c2.cookie().split('.')[0], m[1], 'each sign-in has its own random id');
  });

  test('the 11th sign-in POST from one IP within a minute is 429 with Retry-After, counted before the token; another IP still signs in', { timeout: 60_000 }, async () => {
    const { worker } = stack;
    // Local counters run in fixed windows of the wall clock's minutes: start early in one.
    const into = Date.now() % 60_000;
    if (into > 50_000) await sleep(60_000 - into + 200);
    const ip = '203.0.113.19';
    const c = client(worker, { ip });
    for (let i = 1; i <= 10; i += 1) {
      const r = await c.post('/settings/sign-in', { token: `wrong-${i}` });
      assert.equal(r.status, 401, `attempt ${i} is under the limit (${r.status})`);
    }
    const { res } = await expectRefused(worker, 'the 11th sign-in, with the right token', 429, 'rate_limited', () => c.post('/settings/sign-in', { token: worker.adminToken }));
    assert.match(res.headers['retry-after'] ?? '', /^[1-9]\d*$/, `Retry-After: ${res.headers['retry-after']}`);
    assert.match(res.headers['content-type'] ?? '', /^text\/html/, 'a page for browsers');
    assert.equal(c.cookie(), null, 'the right token did not sign in once limited');
    const again = await c.post('/settings/sign-in', { token: worker.adminToken });
    assert.equal(again.status, 429, 'still limited');
    const other = client(worker, { ip: '203.0.113.20' });
    await other.signIn();
    // The limit is on sign-in POSTs only: a signed-in page from the limited IP still works.
    const signedIn = client(worker, { ip, jar: other.jar });
    assert.ok(isSignedInPage(await signedIn.get('/settings')), 'pages are not limited');
  });

  test('a cookie with a bad HMAC, a stretched or past expiry, or junk is not a session; one made right is', async () => {
    const { worker } = stack;
    const t = worker.adminToken;
    const c = await staff(worker);
    const real = c.cookie();
    const [id, exp, mac] = real.split('.');
    const flipped = `${id}.${exp}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    const stretched = `${id}.${Number(exp) + 30 * 24 * 3600}.${mac}`;
    const expired = craftCookie(t, { expires: Math.floor(Date.now() / 1000) - 5 });
    const otherKey = craftCookie('some-other-admin-token');
    const rawToken = t;
    const good = craftCookie(t);
    secretsSeen.push(good, expired);
    const cases = [
      ['a flipped HMAC', flipped],
      ['a stretched expiry under the old HMAC', stretched],
      ['an expired cookie with a valid HMAC', expired],
      ['an HMAC under another key', otherKey],
      ['the token itself', rawToken],
      ['junk', 'a.b.c'],
      ['an extra part', `${real}.x`],
      ['empty', ''],
    ];
    const csrf = await c.csrf();
    for (const [what, value] of cases) {
      const h = { cookie: `${COOKIE}=${value}` };
      const home = await request(`${worker.apex}/settings`, { headers: h });
      assert.ok(isSignInPage(home), `${what}: GET /settings is the sign-in form (${home.status})`);
      const page = await request(`${worker.apex}/settings/tenants/hostcheck`, { headers: h });
      assert.equal(page.status, 303, `${what}: a tenant page sends to sign-in (${page.status})`);
      await expectRefused(worker, `${what}: a POST`, 403, 'settings_not_signed_in', () =>
        request(`${worker.apex}/settings/tenants/hostcheck`, { method: 'POST', body: new URLSearchParams({ csrf, sign_in_button_label: 'x' }), headers: { ...h, origin: worker.apex } }),
      );
    }
    // The crafted cookie is right when its expiry is: the refusals above are about expiry and HMAC.
    const ok = await request(`${worker.apex}/settings`, { headers: { cookie: `${COOKIE}=${good}` } });
    assert.ok(isSignedInPage(ok), 'a cookie made the documented way is a session');
    assert.equal((await tenantJson(worker, 'hostcheck')).sign_in_button_label, 'Sign in with Corporate Account', 'nothing changed');
  });

  test('a cookie made before ADMIN_TOKEN was rotated is not a session (restart on the same KV with a new token)', { timeout: 90_000 }, async () => {
    const first = rotation.first;
    const c = client(first);
    await c.signIn();
    const old = c.cookie();
    const csrf = await c.csrf();
    // Something stored before the rotation, to show the restart kept the state.
    const { fields } = await newTenantForm(c, 'before-rotation', { csrf });
    assert.equal((await c.post(CREATE, fields)).status, 201);
    await first.stop();
    stoppedWorkers.push(first);
    rotation.first = null;
    const newToken = crypto.randomBytes(32).toString('base64url');
    secretsSeen.push(newToken);
    const second = await startWorker({ name: 'settings-rot2', persistTo: rotation.persist, secrets: { ...first.secrets, ADMIN_TOKEN: newToken } });
    extraWorkers.push(second);
    const again = client(second, { jar: c.jar });
    assert.equal(again.cookie(), old, 'the browser still sends the old cookie');
    assert.ok(isSignInPage(await again.get('/settings')), 'the old cookie is not a session after the rotation');
    assert.equal((await again.get('/settings/tenants/before-rotation')).status, 303);
    await expectRefused(second, 'a POST with the old cookie and its CSRF token', 403, 'settings_not_signed_in', () =>
      again.post('/settings/tenants/before-rotation/delete', { csrf }),
    );
    assert.ok(await tenantJson(second, 'before-rotation'), 'nothing deleted');
    await expectRefused(second, 'the old token', 401, 'settings_wrong_token', () => again.post('/settings/sign-in', { token: first.adminToken }));
    await again.signIn(newToken);
    assert.notEqual(again.cookie(), old);
    const list = await again.get('/settings');
    assert.ok(isSignedInPage(list) && list.body.includes('href="/settings/tenants/before-rotation"'), 'the new token signs in and sees the stored tenant');
    assert.notEqual(csrfOf(list.body), csrf, 'a new session, a new CSRF token');
  });

  test('sign-out needs the CSRF token, then clears the cookie', async () => {
    const { worker } = stack;
    const c = await staff(worker);
    await expectRefused(worker, 'sign-out without csrf', 403, 'settings_csrf', () => c.post('/settings/sign-out', {}));
    await expectRefused(worker, 'sign-out from another origin', 403, 'settings_origin', () => c.post('/settings/sign-out', { csrf: 'irrelevant' }, { origin: 'http://evil.example' }));
    assert.ok(c.cookie(), 'still signed in');
    const home = await c.get('/settings');
    const out = await c.post('/settings/sign-out', formOf(home, '/settings/sign-out').fields);
    assert.equal(out.status, 303, `sign-out → ${out.status}`);
    assert.equal(new URL(out.location).pathname, '/settings');
    const cleared = out.setCookies.find((s) => s.startsWith(`${COOKIE}=`));
    assert.ok(cleared, 'sign-out sends Set-Cookie');
    assert.match(cleared, /^portal_sso_settings=;/, `emptied: ${cleared}`);
    assert.match(cleared, /Max-Age=0/i, `expired: ${cleared}`);
    assert.match(cleared, /Path=\//i);
    assert.equal(c.cookie(), null, 'the browser dropped it');
    assert.ok(isSignInPage(await c.get('/settings')), 'signed out');
  });
});

describe('after sign-in every POST needs the session CSRF token and the apex Origin', () => {
  test('a POST without, with another session\'s or with a stale CSRF token is 403 and changes nothing', async () => {
    const { worker } = stack;
    await apiTenant(worker, 'csrf-target', { sign_in_button_label: 'Before' });
    const a = await staff(worker);
    const b = await staff(worker);
    const page = await a.get('/settings/tenants/csrf-target');
    const form = formOf(page, '/settings/tenants/csrf-target');
    const aCsrf = form.fields.get('csrf');
    const bCsrf = await b.csrf();
    assert.notEqual(aCsrf, bCsrf, 'each session has its own CSRF token');
    // A stale token: from a's session before it signed out and in again.
    const stale = client(worker);
    await stale.signIn();
    const staleCsrf = await stale.csrf();
    await stale.post('/settings/sign-out', { csrf: staleCsrf });
    await stale.signIn();
    assert.notEqual(await stale.csrf(), staleCsrf, 'a new session, a new token');
    const before = await tenantJson(worker, 'csrf-target');
    const count = await tenantCount(worker);
    const newForm = await newTenantForm(a, 'csrf-created');
    const posts = [
      ['save', '/settings/tenants/csrf-target', withChanges(form, { sign_in_button_label: 'After' })],
      ['create', CREATE, newForm.fields],
      ['rotate', '/settings/tenants/csrf-target/webhook-secret', new URLSearchParams()],
      ['check', '/settings/tenants/csrf-target/check', new URLSearchParams()],
      ['delete', '/settings/tenants/csrf-target/delete', new URLSearchParams()],
      ['sign-out', '/settings/sign-out', new URLSearchParams()],
    ];
    for (const [what, p, fields] of posts) {
      for (const [how, who, csrf] of [
        ['without csrf', a, undefined],
        ['with an empty csrf', a, ''],
        ["with another session's csrf", a, bCsrf],
        ['with a stale csrf', stale, staleCsrf],
        ['with the csrf of a cookie-less form', a, 'A'.repeat(43)],
      ]) {
        const f = new URLSearchParams(fields);
        if (csrf === undefined) f.delete('csrf');
        else f.set('csrf', csrf);
        const { res } = await expectRefused(worker, `${what} ${how}`, 403, 'settings_csrf', () => who.post(p, f));
        assert.ok(!res.body.includes('whsec_'), `${what} ${how}: no webhook secret shown`);
      }
    }
    assert.deepEqual(await tenantJson(worker, 'csrf-target'), before, 'the tenant is as it was');
    assert.equal(await tenantCount(worker), count, 'nothing created or deleted');
    assert.ok(a.cookie() && stale.cookie(), 'no one was signed out');
    // The same requests with the right token work (the refusals were about the token).
    const ok = await a.post('/settings/tenants/csrf-target', withChanges(form, { sign_in_button_label: 'After' }));
    assert.equal(ok.status, 303, `save with the right csrf → ${ok.status} ${pageText(ok.body).slice(0, 300)}`);
    assert.equal((await tenantJson(worker, 'csrf-target')).sign_in_button_label, 'After');
  });

  test('a cross-origin POST is 403 even with the right CSRF token, and changes nothing', async () => {
    const { worker } = stack;
    await apiTenant(worker, 'origin-target', { sign_in_button_label: 'Before' });
    const c = await staff(worker);
    const form = formOf(await c.get('/settings/tenants/origin-target'), '/settings/tenants/origin-target');
    const csrf = form.fields.get('csrf');
    const before = await tenantJson(worker, 'origin-target');
    const count = await tenantCount(worker);
    const { fields: createFields } = await newTenantForm(c, 'origin-created', { csrf });
    const posts = [
      ['save', '/settings/tenants/origin-target', withChanges(form, { sign_in_button_label: 'After' })],
      ['create', CREATE, createFields],
      ['rotate', '/settings/tenants/origin-target/webhook-secret', new URLSearchParams({ csrf })],
      ['delete', '/settings/tenants/origin-target/delete', new URLSearchParams({ csrf })],
    ];
    for (const [what, p, fields] of posts) {
      for (const origin of [null, 'http://evil.example', worker.tenantOrigin('origin-target'), 'null']) {
        const { res } = await expectRefused(worker, `${what} with Origin ${origin}`, 403, 'settings_origin', () => c.post(p, fields, { origin }));
        assert.ok(!res.body.includes('whsec_'), 'no secret shown');
      }
    }
    assert.deepEqual(await tenantJson(worker, 'origin-target'), before, 'unchanged');
    assert.equal(await tenantCount(worker), count, 'nothing created or deleted');
  });
});

describe('pages', () => {
  test('the create form has the seed\'s fields and words; the others are under "Advanced"', async () => {
    const c = await staff();
    const r = await c.get(CREATE);
    assert.equal(r.status, 200);
    settingsHeaders(r, 'the create form');
    const html = r.body;
    const [mainPart, advancedPart] = html.split(/<details\b[^>]*>\s*<summary>Advanced<\/summary>/);
    assert.ok(advancedPart, 'a <details> "Advanced" section');
    const label = (part, name) => {
      const m = new RegExp(`<label for="${name}">([^<]*)</label>`).exec(part);
      return m ? decodeEntities(m[1]) : null;
    };
    const help = (part, name) => {
      const m = new RegExp(`<p class="help" id="${name}-help">([^<]*)</p>`).exec(part);
      return m ? decodeEntities(m[1]) : null;
    };
    // The seed's words, word for word.
    const seed = [
      ['okta_domain', 'Okta domain'],
      ['idp_id', 'IdP ID'],
      ['client_id', 'Client ID'],
      ['client_secret', 'Client secret'],
      ['sign_in_button_label', 'Sign in button label'],
      ['provision_new_users', "Create new users if they don't exist"],
      ['password_login_disabled', 'Prevent users from using their password to log in'],
      ['enabled', 'Okta integration'],
    ];
    for (const [name, words] of seed) assert.equal(label(mainPart, name), words, `label of ${name} (outside Advanced)`);
    assert.match(help(mainPart, 'okta_domain'), /^Enter the domain without https:\/\//, 'Okta domain: "Enter the domain without https://…"');
    assert.equal(help(mainPart, 'client_secret'), 'Leave empty to keep the current secret.');
    // Checkboxes for the seed's toggles; the secret is a password field, empty.
    for (const name of ['enabled', 'provision_new_users', 'password_login_disabled']) assert.match(fieldBlock(html, name), /type="checkbox"/, `${name} is a checkbox`);
    assert.match(fieldBlock(html, 'enabled'), /\schecked\b/, 'Okta integration on by default');
    assert.match(fieldBlock(html, 'client_secret'), /type="password"[^>]*value=""/);
    assert.match(fieldBlock(html, 'sign_in_button_label'), /value="Sign in with Corporate Account"/, 'SPEC default label');
    // Every other tenant field is there, under Advanced.
    for (const name of ['authorization_server_id', 'token_endpoint_auth_method', 'allow_unverified_email', 'handoff_path', 'redirect_uri', 'post_logout_redirect_uri', 'app_redirect_uris', 'acr_values', 'max_age', 'extra_scopes', 'groups_claim', 'allowed_groups', 'allowed_email_domains', 'custom_domains', 'settings_admins']) {
      assert.ok(label(advancedPart, name), `${name} under Advanced`);
      assert.equal(label(mainPart, name), null, `${name} not outside Advanced`);
    }
    // Every control has a label (accessibility) and its help.
    for (const m of html.matchAll(/<(?:input|textarea|select)\b[^>]*\sid="([^"]+)"/g)) {
      assert.ok(html.includes(`<label for="${m[1]}">`), `a label for #${m[1]}`);
    }
  });

  test('create through the form: 201 with the webhook secret once, the URIs to register in Okta and what to do there; the list shows it', async () => {
    const { worker, op, portal } = stack;
    const c = await staff();
    const id = 'form-made';
    const { fields, secret } = await newTenantForm(c, id, { sign_in_button_label: 'Members sign in here', idp_id: '0oa1idp', app_redirect_uris: 'com.example.passport:/oauth2redirect\nhttp://127.0.0.1/cb', extra_scopes: 'groups offline_access', custom_domains: 'members.form-made.test' });
    const r = await c.post(CREATE, fields);
    assert.equal(r.status, 201, `create → ${r.status} ${pageText(r.body).slice(0, 400)}`);
    settingsHeaders(r, 'the created page');
    const log = await worker.waitForLog((l) => l.route === '/settings' && l.status === 201 && l.tenant === id);
    assert.equal(log.outcome, 'created');
    assert.ok(!r.body.includes(secret), 'the client secret is not shown back');
    const whsec = /<code id="new-webhook-secret">([^<]+)<\/code>/.exec(r.body)?.[1];
    assert.match(whsec ?? '', WHSEC, 'the webhook secret is shown');
    secretsSeen.push(whsec);
    const origin = worker.tenantOrigin(id);
    const code = (name) => decodeEntities(new RegExp(`<code id="${name}">([^<]+)</code>`).exec(r.body)?.[1] ?? '');
    assert.equal(code('sign-in-redirect-uri'), `${origin}${CALLBACK_PATH}`);
    assert.equal(code('sign-out-redirect-uri'), `${origin}/login/logout`);
    assert.equal(code('initiate-login-uri'), `http://${id}.localhost:${worker.port}/login/initiate`);
    for (const name of ['sign-in-redirect-uri', 'sign-out-redirect-uri', 'initiate-login-uri', 'new-webhook-secret']) {
      assert.match(r.body, new RegExp(`<button[^>]*data-copy="${name}"[^>]*hidden`), `a copy button for ${name}, hidden until the script runs`);
    }
    const text = pageText(r.body);
    assert.match(text, /What to do in Okta/);
    for (const step of [/Create App Integration/, /OIDC/, /Web Application/, /sign-in redirect URI/i, /Initiate login URI/, /Assign/]) assert.match(text, step);
    // Stored exactly as typed, through the admin API's own record.
    const stored = await tenantJson(worker, id);
    assert.ok(stored, 'stored');
    assert.equal(stored.okta_domain, op.tenantFields().okta_domain);
    assert.equal(stored.client_id, `cid-${id}`);
    assert.equal(stored.client_secret_set, true);
    assert.equal(stored.sign_in_button_label, 'Members sign in here');
    assert.equal(stored.idp_id, '0oa1idp');
    assert.equal(stored.portal_url, portal.url);
    assert.equal(stored.enabled, true);
    assert.equal(stored.provision_new_users, false);
    assert.equal(stored.authorization_server_id, null);
    assert.deepEqual(stored.app_redirect_uris, ['com.example.passport:/oauth2redirect', 'http://127.0.0.1/cb']);
    assert.deepEqual(stored.extra_scopes, ['groups', 'offline_access']);
    assert.deepEqual(stored.custom_domains, ['members.form-made.test']);
    assert.ok(!JSON.stringify(stored).includes(whsec), 'the admin API does not show the webhook secret');
    // Shown once: a later GET of the tenant has neither secret.
    const later = await c.get(`/settings/tenants/${id}`);
    assert.equal(later.status, 200);
    settingsHeaders(later, 'the tenant page');
    assert.ok(!later.body.includes(whsec) && !later.body.includes('new-webhook-secret'), 'the webhook secret is not shown again');
    assert.ok(!later.body.includes(secret), 'the client secret is never shown');
    assert.match(fieldBlock(later.body, 'client_secret'), /value=""/);
    assert.equal(decodeEntities(/<code id="sign-in-redirect-uri">([^<]+)/.exec(later.body)[1]), `${origin}${CALLBACK_PATH}`, 'the URIs stay on the page');
    // The list: id, Okta domain, on/off, button label. A disabled tenant reads Off.
    await apiTenant(worker, 'form-off', { enabled: false, sign_in_button_label: 'Off label' });
    const list = await c.get('/settings');
    settingsHeaders(list, 'the list');
    const row = (tid) => new RegExp(`<tr><th scope="row"><a href="/settings/tenants/${tid}">${tid}</a></th>([\\s\\S]*?)</tr>`).exec(list.body)?.[1];
    const cells = (tid) => [...(row(tid) ?? '').matchAll(/<td>([^<]*)<\/td>/g)].map((m) => decodeEntities(m[1]));
    assert.deepEqual(cells(id), [op.tenantFields().okta_domain, 'On', 'Members sign in here']);
    assert.deepEqual(cells('form-off'), [op.tenantFields().okta_domain, 'Off', 'Off label']);
    assert.ok(list.body.includes(`href="${CREATE}"`), 'staff may create');
  });

  test('every invalid field of the admin API\'s tests, through the form: 422, the message by its field, what was typed kept (never the secret), nothing stored', { timeout: 120_000 }, async () => {
    const { worker } = stack;
    const c = await staff();
    const long = `${'a'.repeat(63)}.`.repeat(4) + 'okta.com';
    const ADVANCED = new Set(['authorization_server_id', 'token_endpoint_auth_method', 'handoff_path', 'redirect_uri', 'post_logout_redirect_uri', 'app_redirect_uris', 'acr_values', 'max_age', 'extra_scopes', 'groups_claim', 'allowed_groups', 'allowed_email_domains', 'custom_domains', 'settings_admins']);
    // [form changes (undefined: the field left out of the POST), fields that must carry an error]
    const cases = [
      [{ okta_domain: 'https://acme.okta.com' }, ['okta_domain'], /without https:\/\//],
      [{ okta_domain: 'acme.okta.com/oauth2/default' }, ['okta_domain']],
      [{ okta_domain: 'acme.okta.com?x=1' }, ['okta_domain']],
      [{ okta_domain: 'acme.okta.com#frag' }, ['okta_domain']],
      [{ okta_domain: 'user@acme.okta.com' }, ['okta_domain']],
      [{ okta_domain: 'acme .okta.com' }, ['okta_domain']],
      [{ okta_domain: 'acme.okta.com.' }, ['okta_domain']],
      [{ okta_domain: long }, ['okta_domain']],
      [{ okta_domain: '' }, ['okta_domain']],
      [{ okta_domain: undefined }, ['okta_domain']],
      [{ client_id: '' }, ['client_id']],
      [{ client_id: undefined }, ['client_id']],
      [{ client_id: 'has space' }, ['client_id']],
      [{ client_secret: '' }, ['client_secret']],
      [{ client_secret: undefined }, ['client_secret']],
      [{ token_endpoint_auth_method: 'private_key_jwt' }, ['token_endpoint_auth_method']],
      [{ sign_in_button_label: 'x'.repeat(65) }, ['sign_in_button_label']],
      [{ portal_url: 'ftp://127.0.0.1/portal' }, ['portal_url']],
      [{ portal_url: 'not a url' }, ['portal_url']],
      [{ portal_url: 'http://portal.example.com' }, ['portal_url']],
      [{ portal_url: '' }, ['portal_url']],
      [{ portal_url: 'https://portal;x.example.com' }, ['portal_url']],
      [{ portal_url: 'https://portal.example.com.' }, ['portal_url']],
      [{ portal_url: 'https://bücher.example' }, ['portal_url'], /xn--/],
      [{ handoff_path: 'no-leading-slash' }, ['handoff_path']],
      [{ provision_new_users: 'on', provisioning_webhook_url: '' }, ['provisioning_webhook_url']],
      [{ provisioning_webhook_url: 'http://hooks.example.com/x' }, ['provisioning_webhook_url']],
      [{ redirect_uri: 'javascript:alert(1)' }, ['redirect_uri']],
      [{ post_logout_redirect_uri: 'http://evil.example.com/logout' }, ['post_logout_redirect_uri']],
      [{ custom_domains: 'bad domain.example' }, ['custom_domains']],
      [{ custom_domains: 'localhost' }, ['custom_domains']],
      [{ custom_domains: 'other.localhost' }, ['custom_domains']],
      [{ custom_domains: 'ok.example.test\nhttps://bad.example.test' }, ['custom_domains']],
      [{ idp_id: 'not an id!' }, ['idp_id']],
      [{ authorization_server_id: 'default/../x' }, ['authorization_server_id']],
      [{ app_redirect_uris: 'http://example.com/cb' }, ['app_redirect_uris']],
      [{ app_redirect_uris: 'myapp:/cb' }, ['app_redirect_uris']],
      [{ acr_values: 'a  b' }, ['acr_values']],
      [{ max_age: 'soon' }, ['max_age']],
      [{ max_age: '31536001' }, ['max_age']],
      [{ extra_scopes: 'openid' }, ['extra_scopes']],
      [{ groups_claim: 'a"b' }, ['groups_claim']],
      [{ allowed_groups: 'Members' }, ['allowed_groups']],
      [{ allowed_email_domains: '@example.com' }, ['allowed_email_domains']],
      [{ settings_admins: 'not-an-email' }, ['settings_admins']],
      [{ okta_domain: 'https://acme.okta.com', client_id: '', sign_in_button_label: 'x'.repeat(65) }, ['okta_domain', 'client_id', 'sign_in_button_label']],
      // A create without the client secret names it among the other bad fields, not alone later.
      [{ okta_domain: 'https://acme.okta.com', client_secret: '' }, ['okta_domain', 'client_secret']],
    ];
    const count = await tenantCount(worker);
    let i = 0;
    for (const [changes, bad, message] of cases) {
      i += 1;
      const id = `form-bad-${i}`;
      const what = `${JSON.stringify(changes).slice(0, 90)}`;
      const { fields, secret } = await newTenantForm(c, id, changes);
      const mark = worker.mark();
      const r = await c.post(CREATE, fields);
      assert.equal(r.status, 422, `${what} → ${r.status} ${pageText(r.body).slice(0, 300)}`);
      settingsHeaders(r, what);
      await worker.waitForLog((l) => l.route === '/settings' && l.status === 422 && l.error === 'invalid_config', { since: mark });
      for (const f of bad) assertFieldError(r.body, f, what, bad.length === 1 ? message : undefined);
      assert.deepEqual(fieldsWithErrors(r.body).sort(), [...bad].sort(), `${what}: errors on exactly these fields`);
      assert.match(pageText(r.body), /Nothing was saved/);
      if (bad.some((f) => ADVANCED.has(f))) assert.match(r.body, /<details open>/, `${what}: Advanced is open to show its error`);
      // What was typed is kept (selects only offer their options); never the secret.
      const again = formOf(r, CREATE);
      for (const [k, v] of fields) {
        if (k === 'client_secret' || k === 'csrf' || k === 'token_endpoint_auth_method') continue;
        assert.equal(again.fields.get(k), v, `${what}: ${k} keeps what was typed`);
      }
      assert.equal(again.fields.get('client_secret'), '', `${what}: the secret field is empty`);
      if (secret) {
        for (const form of [secret, encodeURIComponent(secret), secret.replace(/&/g, '&amp;')]) assert.ok(!r.body.includes(form), `${what}: the secret is not echoed`);
      }
      assert.equal(await tenantJson(worker, id), null, `${what}: nothing stored`);
    }
    assert.equal(await tenantCount(worker), count, 'no tenant was created');
  });

  test('a tenant id that is invalid or taken is an error on the id field; nothing stored', async () => {
    const { worker } = stack;
    const c = await staff();
    const ariaProblems = [];
    await apiTenant(worker, 'taken-id', { client_id: 'original-client', sign_in_button_label: 'Original' });
    const before = await tenantJson(worker, 'taken-id');
    const count = await tenantCount(worker);
    for (const id of ['Acme', '-acme', 'a_b', 'a.b', 'a'.repeat(64), '', 'acme x', 'ümlaut', '../x']) {
      const { fields } = await newTenantForm(c, id);
      const { res } = await expectRefused(worker, `id ${JSON.stringify(id)}`, 422, 'invalid_tenant_id', () => c.post(CREATE, fields));
      const msg = assertFieldError(res.body, 'id', `id ${JSON.stringify(id)}`, undefined, ariaProblems);
      assert.match(msg, /a-z/, 'the message says what an id may be');
      assert.equal(formOf(res, CREATE).fields.get('id'), id, 'the typed id is kept');
      assert.deepEqual(fieldsWithErrors(res.body), ['id'], 'only the id is wrong');
    }
    const { fields } = await newTenantForm(c, 'taken-id', { client_id: 'intruder-client', sign_in_button_label: 'Replaced' });
    const { res } = await expectRefused(worker, 'a taken id', 409, 'tenant_id_taken', () => c.post(CREATE, fields));
    assert.match(assertFieldError(res.body, 'id', 'a taken id', undefined, ariaProblems), /taken/);
    assert.ok(!res.body.includes('new-webhook-secret'), 'no webhook secret');
    assert.deepEqual(await tenantJson(worker, 'taken-id'), before, 'the existing tenant is untouched');
    assert.equal(await tenantCount(worker), count, 'nothing created');
    // Like every other field, the id input is marked invalid and described by its message.
    assert.deepEqual(ariaProblems, [], 'the tenant id field is marked aria-invalid and described by its error');
  });

  test('editing: the form round trip keeps every stored field and the client secret; a member still signs in; an invalid save changes nothing', { timeout: 60_000 }, async () => {
    const { worker } = stack;
    const t = await stack.createTenant('form-edit', {
      custom_domains: ['members.form-edit.test'],
      extra_scopes: ['groups'],
      groups_claim: 'groups',
      allowed_groups: ['Members', 'Staff'],
      allowed_email_domains: ['example.com'],
      app_redirect_uris: ['com.example.passport:/oauth2redirect', 'http://127.0.0.1/cb'],
      max_age: 86400,
      acr_values: 'urn:okta:loa:1fa:any urn:okta:loa:2fa:any',
      settings_admins: ['ada@example.com', 'Grace@Example.com'],
      idp_id: '0oaIDP',
      token_endpoint_auth_method: 'client_secret_post',
      allow_unverified_email: true,
      password_login_disabled: true,
    });
    secretsSeen.push(t.clientSecret, t.webhookSecret);
    const before = await tenantJson(worker, 'form-edit');
    const c = await staff();
    const page = await c.get('/settings/tenants/form-edit');
    assert.equal(page.status, 200);
    assert.ok(!page.body.includes(t.clientSecret), 'the stored secret is not on the page');
    const form = formOf(page, '/settings/tenants/form-edit');
    // Save as it is: nothing changes (the secret field is empty: keep the stored one).
    const same = await c.post('/settings/tenants/form-edit', form.fields);
    assert.equal(same.status, 303, `unchanged save → ${same.status} ${pageText(same.body).slice(0, 400)}`);
    assert.deepEqual(await tenantJson(worker, 'form-edit'), before, 'a save of the unchanged form keeps every field');
    // A change of one field.
    const saved = await c.post('/settings/tenants/form-edit', withChanges(form, { sign_in_button_label: 'Edited label', password_login_disabled: undefined }));
    assert.equal(saved.status, 303);
    assert.equal(saved.location, `${worker.apex}/settings/tenants/form-edit?saved=1`);
    const shown = await c.get('/settings/tenants/form-edit?saved=1');
    assert.match(pageText(shown.body), /Saved\./);
    const after1 = await tenantJson(worker, 'form-edit');
    assert.deepEqual({ ...after1, sign_in_button_label: before.sign_in_button_label, password_login_disabled: before.password_login_disabled }, before, 'only the changed fields changed');
    assert.equal(after1.sign_in_button_label, 'Edited label');
    assert.equal(after1.password_login_disabled, false, 'an unticked box is off');
    // The client secret kept by the empty field still works at the provider.
    const s = await stack.signIn({ tenant: 'form-edit', user: 'gwen' });
    assert.ok(s.accepted, `a member signs in after the form saves: ${s.explain()}`);
    // An invalid save: 422, the field marked, nothing changed.
    const bad = await c.post('/settings/tenants/form-edit', withChanges(form, { okta_domain: 'https://x.okta.com', sign_in_button_label: 'Should not stick', client_secret: 'typed-but-refused-secret' }));
    assert.equal(bad.status, 422);
    assertFieldError(bad.body, 'okta_domain', 'edit with a scheme', /without https:\/\//);
    assert.ok(!bad.body.includes('typed-but-refused-secret'), 'the secret typed is not echoed');
    assert.equal(formOf(bad, '/settings/tenants/form-edit').fields.get('sign_in_button_label'), 'Should not stick', 'typed values kept');
    assert.deepEqual(await tenantJson(worker, 'form-edit'), after1, 'nothing stored');
    // Staff may move a custom domain only to a free one: a taken domain is 409 by its field.
    await apiTenant(worker, 'domain-owner', { custom_domains: ['owned.example.test'] });
    const taken = await c.post('/settings/tenants/form-edit', withChanges(form, { custom_domains: 'owned.example.test' }));
    assert.equal(taken.status, 409, `taken domain → ${taken.status}`);
    assertFieldError(taken.body, 'custom_domains', 'a taken domain', /already used/);
    assert.deepEqual(await tenantJson(worker, 'form-edit'), after1, 'nothing stored');
  });

  test('a tenant whose id is "new" (a valid id) opens and saves from the list like any other', async () => {
    const { worker } = stack;
    await apiTenant(worker, 'new', { sign_in_button_label: 'Tenant called new' });
    try {
      const c = await staff();
      const list = await c.get('/settings');
      const href = /<th scope="row"><a href="([^"]+)">new<\/a><\/th>/.exec(list.body)?.[1];
      assert.ok(href, 'tenant "new" is listed');
      const page = await c.get(decodeEntities(href));
      assert.equal(page.status, 200);
      const heading = /<h1>([^<]*)<\/h1>/.exec(page.body)?.[1];
      assert.equal(heading, 'Tenant new', `the list's link ${href} opens tenant "new", not the create form`);
      const form = parseForms(page.body, page.url).find((f) => f.fields.has('okta_domain'));
      assert.equal(form?.fields.get('sign_in_button_label'), 'Tenant called new');
      const saved = await c.post(new URL(form.action).pathname, withChanges(form, { sign_in_button_label: 'Renamed' }));
      assert.equal(saved.status, 303, `save → ${saved.status}`);
      assert.equal((await tenantJson(worker, 'new')).sign_in_button_label, 'Renamed');
    } finally {
      await worker.admin('DELETE', '/admin/tenants/new');
    }
  });

  test('Test connection says in words whether the provider answered', async () => {
    const { worker, op } = stack;
    const c = await staff();
    await apiTenant(worker, 'check-ok');
    const closed = await freePort();
    await apiTenant(worker, 'check-down', { okta_domain: `127.0.0.1:${closed}`, authorization_server_id: null });
    const page = await c.get('/settings/tenants/check-ok');
    const ok = await c.post('/settings/tenants/check-ok/check', formOf(page, '/settings/tenants/check-ok/check').fields);
    assert.equal(ok.status, 200, `check → ${ok.status}`);
    settingsHeaders(ok, 'the check result');
    const panel = /<section class="panel check ([a-z]+)"[\s\S]*?<\/section>/.exec(ok.body);
    assert.ok(panel, 'a Test connection panel');
    assert.equal(panel[1], 'ok');
    const words = pageText(panel[0]);
    assert.match(words, /Connected/);
    assert.ok(words.includes(`Issuer: ${op.issuer}`), words);
    assert.match(words, new RegExp(`Signing keys: 1 published \\(RS256 ${op.kids()[0]}\\)`));
    assert.ok(fieldBlock(ok.body, 'okta_domain'), 'the form is still there');
    const line = await worker.waitForLog((l) => l.route === '/settings' && l.tenant === 'check-ok' && l.outcome === 'check_ok');
    assertLogLine(line, { failure: false });
    const down = await c.post('/settings/tenants/check-down/check', { csrf: await c.csrf() });
    assert.equal(down.status, 200);
    const badPanel = /<section class="panel check ([a-z]+)"[\s\S]*?<\/section>/.exec(down.body);
    assert.equal(badPanel?.[1], 'bad');
    const badWords = pageText(badPanel[0]);
    assert.match(badWords, /The connection test failed/);
    assert.ok(badWords.includes(`Issuer tried: http://127.0.0.1:${closed}`), badWords);
    assert.match(badWords, /Problem: .*(could not be fetched|unreachable)/i, badWords);
  });

  test('Rotate webhook secret shows a new secret once', async () => {
    const { worker } = stack;
    const created = await apiTenant(worker, 'rotate-me');
    const c = await staff();
    const page = await c.get('/settings/tenants/rotate-me');
    assert.match(page.body, /Rotate webhook secret/);
    const r = await c.post('/settings/tenants/rotate-me/webhook-secret', formOf(page, '/settings/tenants/rotate-me/webhook-secret').fields);
    assert.equal(r.status, 200, `rotate → ${r.status}`);
    settingsHeaders(r, 'the rotation page');
    const fresh = /<code id="new-webhook-secret">([^<]+)<\/code>/.exec(r.body)?.[1];
    assert.match(fresh ?? '', WHSEC);
    secretsSeen.push(fresh);
    assert.notEqual(fresh, created.webhookSecret);
    assert.match(pageText(r.body), /24 hours/, 'the page says both secrets sign for a while');
    const line = await worker.waitForLog((l) => l.route === '/settings' && l.tenant === 'rotate-me' && l.outcome === 'webhook_secret_rotated');
    assertLogLine(line, { failure: false });
    const later = await c.get('/settings/tenants/rotate-me');
    assert.ok(!later.body.includes(fresh) && !later.body.includes(created.webhookSecret) && !later.body.includes('new-webhook-secret'), 'not shown again');
    const again = await c.post('/settings/tenants/rotate-me/webhook-secret', { csrf: await c.csrf() });
    const third = /<code id="new-webhook-secret">([^<]+)<\/code>/.exec(again.body)?.[1];
    secretsSeen.push(third);
    assert.ok(third && third !== fresh, 'each rotation makes a new one');
  });

  test('Delete asks for confirmation, then removes the tenant and sends back to the list', async () => {
    const { worker } = stack;
    await apiTenant(worker, 'delete-me', { custom_domains: ['members.delete-me.test'] });
    const c = await staff();
    const page = await c.get('/settings/tenants/delete-me');
    assert.match(page.body, /href="\/settings\/tenants\/delete-me\/delete"/, 'a Delete link');
    const confirm = await c.get('/settings/tenants/delete-me/delete');
    assert.equal(confirm.status, 200);
    settingsHeaders(confirm, 'the confirmation page');
    assert.match(pageText(confirm.body), /Delete delete-me\?/);
    assert.match(pageText(confirm.body), /cannot be undone/);
    assert.ok(await tenantJson(worker, 'delete-me'), 'the confirmation page deletes nothing');
    const r = await c.post('/settings/tenants/delete-me/delete', formOf(confirm, '/settings/tenants/delete-me/delete').fields);
    assert.equal(r.status, 303, `delete → ${r.status}`);
    assert.equal(new URL(r.location).pathname, '/settings');
    assert.equal(await tenantJson(worker, 'delete-me'), null, 'deleted');
    assert.equal(await worker.kvGet('domain:members.delete-me.test'), null, 'its domain mapping too');
    assert.equal((await request(`${worker.tenantOrigin('delete-me')}/login`)).status, 404, 'its login page is gone');
    const list = await c.get(new URL(r.location).pathname + new URL(r.location).search);
    assert.match(pageText(list.body), /Deleted delete-me\./);
    assert.ok(!list.body.includes('href="/settings/tenants/delete-me"'), 'no longer listed');
    await expectRefused(worker, 'the deleted tenant\'s page', 404, 'not_found', () => c.get('/settings/tenants/delete-me'));
  });

  test('HTML in every text field is shown escaped: the list, the tenant form, the re-rendered form', async () => {
    const { worker } = stack;
    const c = await staff();
    // Values the rules accept, each carrying markup (client_id: no spaces; acr_values: ASCII; no quotes in scopes/claims).
    const stored = {
      client_id: `${PWN}&"'cid`,
      sign_in_button_label: `${PWN} "Label" & 'co'`,
      acr_values: `${PWN}&"' urn:okta:loa:1fa:any`,
      extra_scopes: `${PWN}&'`,
      groups_claim: `${PWN}&'`,
      allowed_groups: `${PWN}&"'group\n</textarea><x-pwn>`,
      handoff_path: `/sso/${PWN}&"'`,
    };
    const { fields } = await newTenantForm(c, 'html-esc', stored);
    const created = await c.post(CREATE, fields);
    assert.equal(created.status, 201, `create → ${created.status} ${pageText(created.body).slice(0, 400)}`);
    const pages = [
      ['the created page', created],
      ['the tenant form', await c.get('/settings/tenants/html-esc')],
      ['the list', await c.get('/settings')],
      ['the check result', await c.post('/settings/tenants/html-esc/check', { csrf: await c.csrf() })],
      ['the delete confirmation', await c.get('/settings/tenants/html-esc/delete')],
    ];
    for (const [what, r] of pages) {
      assert.equal(r.status, what === 'the created page' ? 201 : 200, `${what}: ${r.status}`);
      assert.ok(!r.body.includes('<x-pwn'), `${what}: markup from a field reached the page unescaped`);
    }
    assert.ok(pages[2][1].body.includes(`${PWN_ESCAPED} &quot;Label&quot; &amp; &#x27;co&#x27;`) || pages[2][1].body.includes(`${PWN_ESCAPED} "Label" &amp; 'co'`), 'the list shows the label, escaped');
    const form = formOf(pages[1][1], '/settings/tenants/html-esc');
    for (const [k, v] of Object.entries(stored)) assert.equal(form.fields.get(k), v, `${k} reads back exactly (escaped once, not mangled)`);
    // The member login page too.
    const login = await request(`${worker.tenantOrigin('html-esc')}/login`);
    assert.ok(!login.body.includes('<x-pwn'), 'the login page escapes the label');
    // A refused form with markup in every text field, the id included.
    const typed = {};
    for (const name of ['id', 'okta_domain', 'client_id', 'idp_id', 'sign_in_button_label', 'portal_url', 'provisioning_webhook_url', 'authorization_server_id', 'handoff_path', 'redirect_uri', 'post_logout_redirect_uri', 'app_redirect_uris', 'acr_values', 'max_age', 'extra_scopes', 'groups_claim', 'allowed_groups', 'allowed_email_domains', 'custom_domains', 'settings_admins']) {
      typed[name] = `${PWN}"'&</textarea></code>${name}`;
    }
    const { fields: badFields } = await newTenantForm(c, 'x', typed);
    const refused = await c.post(CREATE, badFields);
    assert.equal(refused.status, 422);
    assert.ok(!refused.body.includes('<x-pwn'), 'the re-rendered form escapes what was typed');
    const back = formOf(refused, CREATE);
    for (const [k, v] of Object.entries(typed)) assert.equal(back.fields.get(k), v, `${k} comes back as typed`);
    // The Access admin's email in the header (from the token) is escaped too: see the Access tests.
  });
});

describe('one ACCESS_* var without the other', () => {
  test('every /settings request answers 503 with a log line saying what is wrong; never the token sign-in', async () => {
    assert.equal(misconfigured.length, 2, 'both misconfigured workers started');
    for (const { worker, missing, set } of misconfigured) {
      const c = client(worker);
      const cookie = craftCookie(worker.adminToken);
      const requests = [
        ['GET /settings', () => c.get('/settings')],
        ['GET /settings with a valid staff cookie', () => c.get('/settings', { cookie: `${COOKIE}=${cookie}` })],
        ['GET /settings/new', () => c.get('/settings/new')],
        ['GET /settings/sign-in', () => c.get('/settings/sign-in')],
        ['POST /settings/sign-in with the right token', () => c.post('/settings/sign-in', { token: worker.adminToken })],
        ['POST /settings/tenants/x with a staff cookie', () => c.post('/settings/tenants/x', { csrf: 'x' }, { headers: { cookie: `${COOKIE}=${cookie}` } })],
        ['GET /settings/nowhere', () => c.get('/settings/nowhere')],
      ];
      for (const [what, send] of requests) {
        const { res, line } = await expectRefused(worker, `${set} only: ${what}`, 503, 'settings_misconfigured', send);
        assert.ok(!/name="token"/.test(res.body), `${what}: no token sign-in form`);
        assert.equal(res.setCookies.length, 0, `${what}: no cookie`);
        assert.ok(line.detail?.includes(`${set} is set without ${missing}`), `${what}: the log says what is wrong: ${JSON.stringify(line)}`);
      }
      assert.equal(c.cookie(), null);
      // The rest of the apex is not affected.
      assert.equal((await request(`${worker.apex}/healthz`)).status, 200);
      assert.equal((await worker.admin('GET', '/admin/tenants')).status, 200);
    }
    await Promise.all(misconfigured.map((m) => m.worker.stop()));
    stoppedWorkers.push(...misconfigured.map((m) => m.worker));
    misconfigured = [];
  });
});

describe('operators\' admins through Cloudflare Access', () => {
  /** An Access client: the token in Cf-Access-Jwt-Assertion on every request. */
  const admin = (token) => client(access.worker, { headers: { 'cf-access-jwt-assertion': token } });
  /** An admin's CSRF token, from their tenant's form (Access admins have no sign-out form). */
  const accessCsrf = async (c) => formOf(await c.get('/settings/tenants/acc-mine'), '/settings/tenants/acc-mine').fields.get('csrf');

  before(async () => {
    await apiTenant(access.worker, 'acc-mine', { settings_admins: ['Ada@Example.com', 'grace@example.com'], custom_domains: ['members.acc-mine.test'], sign_in_button_label: 'Mine' });
    await apiTenant(access.worker, 'acc-other', { settings_admins: ['bob@example.com'], custom_domains: ['members.acc-other.test'], sign_in_button_label: 'Other' });
    await apiTenant(access.worker, 'acc-nobody', { sign_in_button_label: 'Nobody' });
  });

  test('an admin sees only the tenants listing their email (case-insensitively) and edits one; custom_domains and settings_admins are kept', async () => {
    const w = access.worker;
    const ada = admin(await accessToken({ email: 'ada@example.com' }));
    const list = await ada.get('/settings');
    assert.equal(list.status, 200, `GET /settings → ${list.status} ${pageText(list.body).slice(0, 300)}`);
    settingsHeaders(list, 'the admin\'s list');
    assert.ok(list.body.includes('href="/settings/tenants/acc-mine"'), 'their tenant is listed');
    for (const other of ['acc-other', 'acc-nobody']) assert.ok(!list.body.includes(other), `${other} is not shown`);
    assert.ok(!/>New tenant</.test(list.body) && !list.body.includes(`href="${CREATE}"`), 'no New tenant for an admin');
    assert.ok(!/name="token"/.test(list.body), 'no token sign-in in Access mode');
    assert.match(pageText(list.body), /ada@example\.com/, 'the header names the admin');
    const page = await ada.get('/settings/tenants/acc-mine');
    assert.equal(page.status, 200);
    for (const f of ['custom_domains', 'settings_admins']) assert.equal(fieldBlock(page.body, f), null, `${f} is not on an admin's form`);
    assert.ok(!page.body.includes('/webhook-secret"') && !page.body.includes('/delete"'), 'no rotate or delete for an admin');
    assert.ok(!page.body.includes('members.acc-mine.test') && !page.body.includes('grace@example.com'), 'staff-only values are not shown');
    assert.match(page.body, /Test connection/);
    const before = await tenantJson(w, 'acc-mine');
    const form = formOf(page, '/settings/tenants/acc-mine');
    const saved = await ada.post('/settings/tenants/acc-mine', withChanges(form, { sign_in_button_label: 'Edited by Ada' }));
    assert.equal(saved.status, 303, `save → ${saved.status} ${pageText(saved.body).slice(0, 300)}`);
    const after1 = await tenantJson(w, 'acc-mine');
    assert.equal(after1.sign_in_button_label, 'Edited by Ada');
    assert.deepEqual(after1.custom_domains, before.custom_domains, 'custom_domains kept');
    assert.deepEqual(after1.settings_admins, before.settings_admins, 'settings_admins kept');
    assert.deepEqual({ ...after1, sign_in_button_label: before.sign_in_button_label }, before, 'nothing else changed');
    const line = await w.waitForLog((l) => l.route === '/settings' && l.tenant === 'acc-mine' && l.outcome === 'saved');
    assertLogLine(line, { failure: false });
    // Test connection works for an admin on their tenant.
    const check = await ada.post('/settings/tenants/acc-mine/check', { csrf: form.fields.get('csrf') });
    assert.equal(check.status, 200);
    assert.match(pageText(check.body), /Connected/);
    // An admin whose email no tenant lists sees an empty list (not an error); markup in it is escaped.
    const stranger = admin(await accessToken({ email: `${PWN}"@example.com`, sub: 'stranger-sub' }));
    const empty = await stranger.get('/settings');
    assert.equal(empty.status, 200);
    assert.match(pageText(empty.body), /No tenants yet/);
    assert.ok(!empty.body.includes('<x-pwn') && empty.body.includes(PWN_ESCAPED), 'the email in the header is escaped');
  });

  test('another tenant: opening, saving, checking, deleting → 403; creating, rotating, deleting their own → 403; nothing changed', async () => {
    const w = access.worker;
    const ada = admin(await accessToken({ email: 'ada@example.com' }));
    const csrf = await accessCsrf(ada);
    const other = await tenantJson(w, 'acc-other');
    const mine = await tenantJson(w, 'acc-mine');
    const count = await tenantCount(w);
    const otherForm = { csrf, okta_domain: other.okta_domain, client_id: other.client_id, portal_url: other.portal_url, sign_in_button_label: 'Taken over', enabled: 'on' };
    const refusals = [
      ['GET another tenant', 'settings_not_your_tenant', () => ada.get('/settings/tenants/acc-other')],
      ['GET a tenant nobody administers', 'settings_not_your_tenant', () => ada.get('/settings/tenants/acc-nobody')],
      ['GET an absent tenant (learns nothing)', 'settings_not_your_tenant', () => ada.get('/settings/tenants/no-such-tenant')],
      ['POST a save to another tenant', 'settings_not_your_tenant', () => ada.post('/settings/tenants/acc-other', otherForm)],
      ['POST themselves into another tenant\'s settings_admins', 'settings_not_your_tenant', () => ada.post('/settings/tenants/acc-other', { ...otherForm, sign_in_button_label: 'Other', settings_admins: 'bob@example.com\nada@example.com' })],
      ['POST Test connection on another tenant', 'settings_not_your_tenant', () => ada.post('/settings/tenants/acc-other/check', { csrf })],
      ['GET delete of another tenant', 'settings_staff_only', () => ada.get('/settings/tenants/acc-other/delete')],
      ['POST delete of another tenant', 'settings_staff_only', () => ada.post('/settings/tenants/acc-other/delete', { csrf })],
      ['POST delete of their own tenant', 'settings_staff_only', () => ada.post('/settings/tenants/acc-mine/delete', { csrf })],
      ['POST rotate their own webhook secret', 'settings_staff_only', () => ada.post('/settings/tenants/acc-mine/webhook-secret', { csrf })],
      ['GET the create form', 'settings_staff_only', () => ada.get(CREATE)],
      ['POST a create', 'settings_staff_only', () => ada.post(CREATE, { ...otherForm, id: 'ada-made', client_secret: 'created-by-an-admin' })],
      ['POST a save of their own tenant adding a custom domain', 'settings_staff_only_field', () => ada.post('/settings/tenants/acc-mine', { ...otherForm, sign_in_button_label: 'Mine', custom_domains: 'members.acc-mine.test\nevil.example.test' })],
      ['POST a save of their own tenant taking another tenant\'s domain', 'settings_staff_only_field', () => ada.post('/settings/tenants/acc-mine', { ...otherForm, custom_domains: 'members.acc-other.test' })],
      ['POST a save of their own tenant adding an admin', 'settings_staff_only_field', () => ada.post('/settings/tenants/acc-mine', { ...otherForm, settings_admins: 'Ada@Example.com\ngrace@example.com\nmallory@example.com' })],
      ['POST a save of their own tenant emptying settings_admins', 'settings_staff_only_field', () => ada.post('/settings/tenants/acc-mine', { ...otherForm, settings_admins: '' })],
      ['POST sign-in with the ADMIN_TOKEN', 'not_found', () => ada.post('/settings/sign-in', { token: w.adminToken })],
    ];
    for (const [what, code, send] of refusals) {
      const status = code === 'not_found' ? 404 : 403;
      const { res } = await expectRefused(w, what, status, code, send);
      assert.ok(!res.body.includes(other.client_id) && !res.body.includes('members.acc-other.test'), `${what}: nothing of the other tenant shown`);
      assert.ok(!res.body.includes('whsec_'), `${what}: no webhook secret`);
    }
    assert.deepEqual(await tenantJson(w, 'acc-other'), other, 'the other tenant is unchanged');
    assert.deepEqual(await tenantJson(w, 'acc-mine'), mine, 'their own tenant is unchanged');
    assert.equal(await tenantCount(w), count, 'nothing created or deleted');
    // The other tenant's own admin can open it (the refusals were about who, not about the tenant).
    const bob = admin(await accessToken({ email: 'bob@example.com', sub: 'bob-sub-0002' }));
    assert.equal((await bob.get('/settings/tenants/acc-other')).status, 200);
  });

  test('bad Access tokens are 403 with the reason in the log: forged, expired, another aud or iss, unknown kid, none; a staff cookie does not count', { timeout: 60_000 }, async () => {
    const w = access.worker;
    const ada = admin(await accessToken());
    const csrf = await accessCsrf(ada); // also fetches and caches the certs
    const now = Math.floor(Date.now() / 1000);
    const stranger = await rsaKey('stranger');
    // Key rotation at the team: a new key is found by one refetch for its unknown kid…
    const rotated = await rsaKey(`access-${crypto.randomBytes(4).toString('hex')}`);
    access.served.push(rotated.jwk);
    const fetchesBefore = access.fetches.length;
    const r = await admin(await accessToken({ key: rotated })).get('/settings');
    assert.equal(r.status, 200, `a token under a newly published key: ${r.status} ${pageText(r.body).slice(0, 200)}`);
    assert.equal(access.fetches.length, fetchesBefore + 1, 'one refetch of the certs');
    const before = await tenantJson(w, 'acc-mine');
    const cases = [
      ['no token', 'access_token_missing', null],
      ['forged: a known kid, signed by another key', 'access_bad_signature', await accessToken({ key: stranger, kid: access.keys.main.kid })],
      ['expired', 'access_expired', await accessToken({ exp: now - 3600, iat: now - 7200 })],
      ['another aud', 'access_wrong_audience', await accessToken({ aud: ['another-application-aud'] })],
      ['aud as a string of another app', 'access_wrong_audience', await accessToken({ aud: 'another-application-aud' })],
      ['another iss (https)', 'access_wrong_issuer', await accessToken({ iss: `https://${access.teamDomain}` })],
      ['another iss (another team)', 'access_wrong_issuer', await accessToken({ iss: 'https://evil.cloudflareaccess.com' })],
      ['an unknown kid', 'access_unknown_kid', await accessToken({ key: stranger })],
      ['no email', 'access_no_identity', await accessToken({ omit: ['email'] })],
      ['junk', 'access_token_invalid', 'not.a.jwt'],
    ];
    for (const [what, code, token] of cases) {
      const c = token === null ? client(w) : admin(token);
      const { res } = await expectRefused(w, `GET with ${what}`, 403, code, () => c.get('/settings'));
      assert.ok(!res.body.includes('acc-mine'), `${what}: no tenant shown`);
      assert.ok(!/name="token"/.test(res.body), `${what}: never the token sign-in`);
      await expectRefused(w, `save with ${what}`, 403, code, () => c.post('/settings/tenants/acc-mine', { csrf, okta_domain: before.okta_domain, client_id: before.client_id, portal_url: before.portal_url, sign_in_button_label: 'Forged' }));
    }
    assert.equal(access.fetches.length, fetchesBefore + 1, 'the unknown kid within 30 s of the last refetch did not refetch again');
    // A valid staff cookie (this worker's ADMIN_TOKEN) does not open Access mode.
    const cookie = craftCookie(w.adminToken);
    await expectRefused(w, 'a staff cookie instead of a token', 403, 'access_token_missing', () => client(w).get('/settings', { cookie: `${COOKIE}=${cookie}` }));
    assert.deepEqual(await tenantJson(w, 'acc-mine'), before, 'nothing changed');
  });

  test('behind Access every /settings request proves itself first: no page, not even a 404, without a token', async () => {
    const w = access.worker;
    for (const p of ['/settings/nowhere', '/settings/sign-in', '/settings/tenants/acc-mine/nope']) {
      await expectRefused(w, `GET ${p} without a token`, 403, 'access_token_missing', () => client(w).get(p));
    }
    // With a token, an unknown page is an ordinary 404.
    const r = await admin(await accessToken()).get('/settings/nowhere');
    assert.equal(r.status, 404);
  });

  test('team certs that cannot be fetched: 503, not a refusal of the admin', { timeout: 120_000 }, async () => {
    const closed = await freePort(); // nothing listens there
    const w = await startWorker({ name: 'settings-access-down', vars: { ACCESS_TEAM_DOMAIN: `127.0.0.1:${closed}`, ACCESS_AUD: access.aud } });
    extraWorkers.push(w);
    secretsSeen.push(w.adminToken);
    const token = await accessToken();
    const c = client(w, { headers: { 'cf-access-jwt-assertion': token } });
    const { line } = await expectRefused(w, 'a valid-looking token while the certs are unreachable', 503, 'access_certs_unavailable', () => c.get('/settings'));
    assert.ok(line.detail, 'the log says what failed');
  });

  test('an admin\'s POSTs need their CSRF token (per Access sub) and the apex Origin', async () => {
    const w = access.worker;
    const ada = admin(await accessToken());
    const bob = admin(await accessToken({ email: 'bob@example.com', sub: 'bob-sub-0002' }));
    const adaForm = formOf(await ada.get('/settings/tenants/acc-mine'), '/settings/tenants/acc-mine');
    const bobForm = formOf(await bob.get('/settings/tenants/acc-other'), '/settings/tenants/acc-other');
    assert.notEqual(adaForm.fields.get('csrf'), bobForm.fields.get('csrf'), 'per admin');
    // A later token of the same admin (same sub) keeps the form valid.
    const adaLater = admin(await accessToken({ iat: Math.floor(Date.now() / 1000) - 5 }));
    assert.equal(formOf(await adaLater.get('/settings/tenants/acc-mine'), '/settings/tenants/acc-mine').fields.get('csrf'), adaForm.fields.get('csrf'), 'stable for one sub');
    const before = await tenantJson(w, 'acc-other');
    await expectRefused(w, 'bob saving without csrf', 403, 'settings_csrf', () => bob.post('/settings/tenants/acc-other', withChanges(bobForm, { csrf: undefined, sign_in_button_label: 'x' })));
    await expectRefused(w, "bob saving with ada's csrf", 403, 'settings_csrf', () => bob.post('/settings/tenants/acc-other', withChanges(bobForm, { csrf: adaForm.fields.get('csrf'), sign_in_button_label: 'x' })));
    await expectRefused(w, 'bob saving cross-origin', 403, 'settings_origin', () => bob.post('/settings/tenants/acc-other', withChanges(bobForm, { sign_in_button_label: 'x' }), { origin: 'http://evil.example' }));
    await expectRefused(w, 'bob saving without Origin', 403, 'settings_origin', () => bob.post('/settings/tenants/acc-other', withChanges(bobForm, { sign_in_button_label: 'x' }), { origin: null }));
    assert.deepEqual(await tenantJson(w, 'acc-other'), before, 'nothing changed');
  });
});

describe('in Chromium', () => {
  test('staff: sign in, create a tenant on the real OP (a field error fixed), Test connection, copy the redirect URI; then a member signs in to it', { timeout: 180_000 }, async () => {
    const { worker, op, portal } = stack;
    const id = 'chromium-made';
    const origin = worker.tenantOrigin(id);
    const clientId = `client-${id}`;
    const clientSecret = awkwardSecret();
    secretsSeen.push(clientSecret);
    // The Okta side, registered with the URIs SPEC computes for this tenant.
    const registered = await op.addClient({
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [`${origin}${CALLBACK_PATH}`],
      post_logout_redirect_uris: [`${origin}/login/logout`],
    });
    const context = await browser.newContext({ extraHTTPHeaders: { 'cf-connecting-ip': nextIp() } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: worker.apex });
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      const nav = await page.goto(`${worker.apex}/settings`);
      assert.equal(nav.status(), 200);
      await page.getByLabel('Admin token').fill(worker.adminToken);
      await shot(page, '01-sign-in');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Okta sign-in for your tenants' }).waitFor();
      await shot(page, '02-tenants');
      const cookies = await context.cookies(worker.apex);
      const session = cookies.find((k) => k.name === COOKIE);
      assert.ok(session, 'the browser holds the session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Strict');
      secretsSeen.push(session.value);

      await page.getByRole('link', { name: 'New tenant' }).click();
      await page.getByRole('heading', { name: 'New tenant' }).waitFor();
      await shot(page, '03-new-tenant');
      const okta = op.tenantFields().okta_domain;
      await page.getByLabel('Tenant id', { exact: true }).fill(id);
      await page.getByLabel('Okta domain', { exact: true }).fill(`https://${okta}`);
      await page.getByLabel('Client ID', { exact: true }).fill(clientId);
      await page.getByLabel('Client secret', { exact: true }).fill(clientSecret);
      await page.getByLabel('Members Portal URL', { exact: true }).fill(portal.url);
      const save = async () => {
        const [resp] = await Promise.all([
          page.waitForResponse((x) => x.request().method() === 'POST' && new URL(x.url()).pathname === CREATE),
          page.getByRole('button', { name: 'Save' }).click(),
        ]);
        return resp;
      };
      const refused = await save();
      assert.equal(refused.status(), 422);
      const error = page.locator('#okta_domain-error');
      await error.waitFor();
      assert.match(await error.textContent(), /without https:\/\//);
      assert.equal(await page.locator('#okta_domain').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.locator('#okta_domain').inputValue(), `https://${okta}`, 'what was typed is kept');
      assert.equal(await page.locator('#client_id').inputValue(), clientId);
      assert.equal(await page.locator('#client_secret').inputValue(), '', 'the secret is not kept');
      await shot(page, '04-field-error');
      assert.equal(await worker.admin('GET', `/admin/tenants/${id}`).then((g) => g.status), 404, 'nothing stored');

      await page.getByLabel('Okta domain', { exact: true }).fill(okta);
      await page.getByLabel('Client secret', { exact: true }).fill(clientSecret);
      const created = await save();
      assert.equal(created.status(), 201);
      await page.getByRole('heading', { name: `Tenant ${id}` }).waitFor();
      const whsec = await page.locator('#new-webhook-secret').textContent();
      assert.match(whsec, WHSEC);
      secretsSeen.push(whsec);
      assert.equal(await page.locator('#initiate-login-uri').textContent(), `${origin}/login/initiate`);
      assert.equal(await page.locator('#sign-out-redirect-uri').textContent(), registered.post_logout_redirect_uris[0]);
      await shot(page, '05-created');

      // The copy button (shown by the script) puts the URI on the clipboard.
      const copy = page.locator('button[data-copy="sign-in-redirect-uri"]');
      await copy.waitFor({ state: 'visible' });
      await page.bringToFront();
      await copy.click();
      await page.locator('button[data-copy="sign-in-redirect-uri"]', { hasText: 'Copied' }).waitFor();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      assert.equal(copied, registered.redirect_uris[0], 'the copied sign-in redirect URI is the one registered at the provider');
      assert.equal(copied, await page.locator('#sign-in-redirect-uri').textContent());

      await page.getByRole('button', { name: 'Test connection' }).click();
      await page.getByRole('heading', { name: 'Test connection' }).waitFor();
      const result = await page.locator('section.check').innerText();
      assert.match(result, /Connected/);
      assert.ok(result.includes(`Issuer: ${op.issuer}`), result);
      await shot(page, '06-test-connection');
      assert.deepEqual(cspProblems(problems), [], 'no CSP violations on the settings pages');

      // A member signs in to the new tenant through its login page and the provider's form.
      portal.expectTenant(id, { iss: origin, aud: portal.url });
      const member = await browser.newContext();
      try {
        const mp = await member.newPage();
        const mProblems = watchProblems(mp);
        const login = await mp.goto(`${origin}/login`);
        assert.equal(login.status(), 200);
        const button = mp.getByRole('link', { name: 'Sign in with Corporate Account' }).or(mp.getByRole('button', { name: 'Sign in with Corporate Account' }));
        await button.first().waitFor({ state: 'visible' });
        await shot(mp, '07-member-login');
        await button.first().click();
        await mp.waitForURL((u) => u.origin === op.origin, { timeout: 15_000 });
        await mp.getByLabel('Username').fill('alice');
        await mp.getByLabel('Password').fill(PASSWORD);
        await shot(mp, '08-provider');
        const acceptedBefore = portal.accepted.length;
        await Promise.all([mp.waitForURL((u) => u.origin === portal.url, { timeout: 30_000 }), mp.getByRole('button', { name: 'Sign in' }).click()]);
        await mp.getByRole('heading', { name: /Welcome, Alice Anderson/ }).waitFor({ timeout: 10_000 });
        await shot(mp, '09-portal');
        const accepted = portal.accepted.slice(acceptedBefore).find((a) => a.claims.tenant === id);
        assert.ok(accepted, `the portal accepted the assertion (refused: ${JSON.stringify(portal.refused.map((x) => x.reason))})`);
        assert.equal(accepted.claims.email, 'alice@example.com');
        assert.equal(accepted.claims.iss, origin);
        assert.equal(op.log.token.at(-1)?.client, clientId, 'the token request used the client the form saved');
        assert.deepEqual(cspProblems(mProblems), []);
      } finally {
        await member.close();
      }
    } finally {
      await context.close();
    }
  });

  test('Access: the admin listed on one tenant edits it and cannot open the other', { timeout: 90_000 }, async () => {
    const w = access.worker;
    const token = await accessToken({ email: 'grace@example.com', sub: 'grace-sub-0003' });
    const context = await browser.newContext({ extraHTTPHeaders: { 'cf-access-jwt-assertion': token } });
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      const before = await tenantJson(w, 'acc-mine');
      assert.equal((await page.goto(`${w.apex}/settings`)).status(), 200);
      await page.getByRole('heading', { name: 'Okta sign-in for your tenants' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'acc-mine' }).count(), 1);
      assert.equal(await page.getByRole('link', { name: 'acc-other' }).count(), 0, 'the other tenant is not listed');
      assert.equal(await page.getByRole('link', { name: 'New tenant' }).count(), 0);
      await shot(page, '10-access-list');
      await page.getByRole('link', { name: 'acc-mine' }).click();
      await page.getByRole('heading', { name: 'Tenant acc-mine' }).waitFor();
      assert.equal(await page.getByLabel('Custom domains').count(), 0, 'no custom domains field');
      assert.equal(await page.getByLabel('Settings admins').count(), 0, 'no settings admins field');
      assert.equal(await page.getByRole('button', { name: 'Rotate webhook secret' }).count(), 0);
      assert.equal(await page.getByRole('link', { name: 'Delete tenant' }).count(), 0);
      await page.getByLabel('Sign in button label', { exact: true }).fill('Edited by Grace in Chromium');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('Saved.').waitFor();
      await shot(page, '11-access-saved');
      const after1 = await tenantJson(w, 'acc-mine');
      assert.equal(after1.sign_in_button_label, 'Edited by Grace in Chromium');
      assert.deepEqual(after1.custom_domains, before.custom_domains);
      assert.deepEqual(after1.settings_admins, before.settings_admins);
      const mark = w.mark();
      const other = await page.goto(`${w.apex}/settings/tenants/acc-other`);
      assert.equal(other.status(), 403);
      await w.waitForLog((l) => l.route === '/settings' && l.status === 403 && l.error === 'settings_not_your_tenant', { since: mark });
      assert.ok(!(await page.content()).includes('Other'), 'nothing of the other tenant shown');
      await shot(page, '12-access-other-403');
      assert.deepEqual(cspProblems(problems), []);
    } finally {
      await context.close();
    }
  });

  test('keyboard: the sign-in form submits with Enter, focus is visible; with JavaScript off staff still sign in and save', { timeout: 90_000 }, async () => {
    const { worker } = stack;
    await apiTenant(worker, 'no-js', { sign_in_button_label: 'Before' });
    const kb = await browser.newContext({ extraHTTPHeaders: { 'cf-connecting-ip': nextIp() } });
    try {
      const page = await kb.newPage();
      await page.goto(`${worker.apex}/settings`);
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'the token field has focus on arrival');
      await page.keyboard.type(worker.adminToken);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Okta sign-in for your tenants' }).waitFor();
      // Tab to the New tenant link: it shows a visible focus ring, and Enter follows it.
      let reached = false;
      for (let i = 0; i < 40 && !reached; i += 1) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === 'New tenant');
      }
      assert.ok(reached, 'New tenant is reachable with Tab');
      const ring = await page.evaluate(() => {
        const el = document.activeElement;
        const s = getComputedStyle(el);
        return { visible: el.matches(':focus-visible'), style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
      });
      assert.ok(ring.visible && ring.style !== 'none' && ring.width >= 2, `a visible focus outline: ${JSON.stringify(ring)}`);
      await shot(page, '13-keyboard-focus');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'New tenant' }).waitFor();
    } finally {
      await kb.close();
    }

    const nojs = await browser.newContext({ javaScriptEnabled: false, extraHTTPHeaders: { 'cf-connecting-ip': nextIp() } });
    try {
      const page = await nojs.newPage();
      await page.goto(`${worker.apex}/settings`);
      await page.getByLabel('Admin token').fill(worker.adminToken);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Okta sign-in for your tenants' }).waitFor();
      await page.getByRole('link', { name: 'no-js', exact: true }).click();
      await page.getByRole('heading', { name: 'Tenant no-js' }).waitFor();
      assert.ok(await page.locator('#sign-in-redirect-uri').isVisible(), 'the URIs are there to select');
      await page.getByLabel('Sign in button label', { exact: true }).fill('Saved without JavaScript');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('Saved.').waitFor();
      await shot(page, '14-no-javascript-saved');
      assert.equal((await tenantJson(worker, 'no-js')).sign_in_button_label, 'Saved without JavaScript');
      // The copy buttons need the script: without it they stay hidden (a button that does nothing is worse than none).
      const shown = await page.locator('button[data-copy]').evaluateAll((bs) => bs.filter((b) => b.offsetParent !== null).map((b) => b.dataset.copy));
      assert.deepEqual(shown, [], 'copy buttons stay hidden without JavaScript');
    } finally {
      await nojs.close();
    }
  });
});

test('no secret reached any worker\'s output', () => {
  for (const w of [stack.worker, access.worker, ...extraWorkers, ...stoppedWorkers]) {
    assertNoSecrets(w.output(), secretsSeen.filter(Boolean), `${w.name} output`);
  }
});
