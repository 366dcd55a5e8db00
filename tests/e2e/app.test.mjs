// Issue 17 — App sign-in (SPEC "App sign-in", RFC 8252 with PKCE): headless Chromium plays
// the Passport App against a loopback redirect URI (sign-in at the real OP, "Continue to the
// app", the code caught on loopback, redeemed at /app/token, the assertion verified against
// the tenant's JWKS); then, over HTTP, every refusal of /app/login, /app/continue and
// /app/token — each asserting the log line's stable code, so that it fails if its check goes
// — the one-time code's single use (sequential and racing), its 60 s lifetime, its binding to
// tenant, redirect URI and PKCE challenge, the callback's failures as error redirects to the
// app, the admin API's app_redirect_uris, and the /app/token rate limit.

import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { CookieJar, browserOrigin, describeChain, follow, listen, pageText, parseForms, request, submitForm } from '../support/http.mjs';
import { startStack, CALLBACK_PATH, awkwardSecret } from '../support/stack.mjs';
import { startBadOp } from '../support/bad-op.mjs';
import { PASSWORD } from '../support/op.mjs';
import { REPO_ROOT, putTenant } from '../support/worker.mjs';
import { assertHtmlHeaders, assertLogLine, assertNoSecrets } from '../support/assert.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');

// The tenant's registered redirect URIs: a loopback one (LOCAL_DEV; any port matches), two
// https app links, one with its own query, and a private-use scheme.
const LOOPBACK = 'http://127.0.0.1/cb';
const APP_LINK = 'https://app.example.com/cb';
const APP_LINK_2 = 'https://app.example.com/cb2';
const APP_LINK_Q = 'https://app.example.com/q?tenant=acme';
const PRIVATE = 'com.example.passport:/oauth2redirect';
const REDIRECTS = [LOOPBACK, APP_LINK, APP_LINK_2, APP_LINK_Q, PRIVATE];

const B64U43 = /^[A-Za-z0-9_-]{43}$/;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stack;
let bad;
let browser;
let acme;
/** Every secret this file sees (codes, verifiers, assertions, cookies, CSRF tokens…): none may reach the log. */
const secrets = [];
const keep = (...values) => {
  for (const v of values) if (typeof v === 'string' && v) secrets.push(v);
};

before(async () => {
  stack = await startStack({ worker: { name: 'app' } });
  bad = await startBadOp();
  acme = await stack.createTenant('acme', { app_redirect_uris: REDIRECTS });
  // Lists the very same redirect URIs: a code of acme's must still be refused on beta's host.
  await stack.createTenant('beta', { app_redirect_uris: REDIRECTS });
  await stack.createTenant('off', { enabled: false, app_redirect_uris: REDIRECTS });
  await stack.createTenant('noapp', {});
  keep(acme.clientSecret, stack.worker.adminToken, stack.worker.secrets.CONFIG_KEY, JSON.parse(stack.worker.secrets.HANDOFF_SIGNING_KEY).d);
});

after(async () => {
  await browser?.close().catch(() => {});
  await Promise.allSettled([stack?.stop(), bad?.close()]);
});

// ---------------------------------------------------------------------------------------------
// Helpers: the app's side of the protocol.

/** A PKCE pair (RFC 7636 S256): 32 random bytes as the verifier. */
function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  keep(verifier);
  return { verifier, challenge };
}

const freshState = () => `app-${crypto.randomBytes(9).toString('base64url')}.~_`;

/** A TEST-NET address: each /app/token call plays its own client unless told otherwise (the limit is per IP). */
const randomIp = () => `198.51.${crypto.randomInt(0, 256)}.${crypto.randomInt(1, 255)}`;

/** The /app/login URL. `params` overrides (undefined: leave out). */
function appLoginUrl(tenant, params) {
  const u = new URL(`${stack.worker.tenantOrigin(tenant)}/app/login`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.append(k, v);
  return u.href;
}

/** True for a URL on the worker (any tenant host) or the OP: hops the browser takes before the app. */
function onOurSide(url) {
  const u = new URL(url);
  if (u.origin === stack.op.origin || u.origin === bad.origin) return true;
  return u.protocol === 'http:' && u.port === String(stack.worker.port) && (u.hostname === 'localhost' || u.hostname.endsWith('.localhost'));
}

/**
 * Plays the app's browser up to the app: /app/login → OP (login_hint logs in without a page)
 * → the worker's callback → either a redirect to the app (`appUrl`, not requested) or a page
 * (`response`, e.g. "Continue to the app").
 */
async function appLogin({ tenant = 'acme', redirectUri, user = 'alice', state = freshState(), pair = pkce(), jar = new CookieJar('app'), extra = {} } = {}) {
  const url = appLoginUrl(tenant, {
    redirect_uri: redirectUri,
    state,
    code_challenge: pair.challenge,
    code_challenge_method: 'S256',
    login_hint: user ?? undefined,
    ...extra,
  });
  const start = await request(url, { jar });
  const { response, chain, next } = await follow(start, { jar, stopBefore: (n) => !onOurSide(n.url) });
  for (const c of jar.cookies) keep(c.value);
  const appUrl = next ? new URL(next.url) : null;
  if (appUrl) keep(appUrl.searchParams.get('code'));
  return {
    start,
    chain,
    response,
    appUrl,
    pair,
    state,
    jar,
    explain: () => `chain:\n  ${describeChain(chain)}\nlast page (${response.status}): ${pageText(response.body).slice(0, 400)}`,
  };
}

/** The worker's cookies (the OP sets its own on 127.0.0.1) whose name says session. */
const sessionCookies = (jar) => jar.cookies.filter((c) => c.domain.endsWith('localhost') && /session/i.test(c.name));

/** The callback's response in a chain (the hop that ended on the worker's callback path). */
const callbackHop = (chain) => chain.find((r) => new URL(r.url).pathname === CALLBACK_PATH);

/** The Continue form of a page. */
function continueForm(res) {
  return parseForms(res.body, res.url).find((f) => f.method === 'POST' && new URL(f.action).pathname === '/app/continue') ?? null;
}

/** Clicks "Continue" as the same browser would. */
async function clickContinue(s) {
  const form = continueForm(s.response);
  assert.ok(form, `a Continue form: ${s.explain()}`);
  keep(form.fields.get('continue'), form.fields.get('csrf'));
  const res = await submitForm(form, { jar: s.jar, origin: browserOrigin(s.response) });
  if (res.location) keep(new URL(res.location).searchParams.get('code'));
  return res;
}

/** A login that gets its code at once (an https app link). Returns { code, pair, state, redirectUri, appUrl }. */
async function issueCode({ tenant = 'acme', redirectUri = APP_LINK, user = 'alice' } = {}) {
  const s = await appLogin({ tenant, redirectUri, user });
  assert.ok(s.appUrl, `the app got a redirect: ${s.explain()}`);
  const code = s.appUrl.searchParams.get('code');
  assert.match(code ?? '', B64U43, `a code in ${s.appUrl.href.replace(/code=[^&]+/, 'code=…')}`);
  return { code, pair: s.pair, state: s.state, redirectUri, appUrl: s.appUrl, login: s };
}

/** POST /app/token. fields: the form (undefined values left out); opts: ip, headers, raw body. */
async function token(tenant, fields, { ip = randomIp(), headers = {}, body } = {}) {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(fields ?? {})) if (v !== undefined) form.append(k, v);
  const res = await request(`${stack.worker.tenantOrigin(tenant)}/app/token`, {
    method: 'POST',
    body: body ?? form,
    headers: { 'cf-connecting-ip': ip, ...(body === undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...headers },
  });
  let json = null;
  try {
    json = JSON.parse(res.body);
  } catch {
    /* asserted by callers */
  }
  if (json?.assertion) keep(json.assertion);
  return { ...res, json };
}

const redeemFields = (c, over = {}) => ({ grant_type: 'authorization_code', code: c.code, redirect_uri: c.redirectUri, code_verifier: c.pair.verifier, ...over });

/** A refusal of /app/token: 400 JSON (RFC 6749 §5.2), no-store, and its log line's code. */
async function assertTokenError(res, error, { mark, logCode = `token_${error}`, what = error } = {}) {
  assert.equal(res.status, 400, `${what}: status (${res.body})`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, `${what}: JSON`);
  assert.match(res.headers['cache-control'] ?? '', /no-store/, `${what}: Cache-Control no-store`);
  assert.equal(res.json?.error, error, `${what}: error (${res.body})`);
  assert.equal(typeof res.json.error_description, 'string', `${what}: error_description`);
  assert.equal(res.headers['access-control-allow-origin'], undefined, `${what}: no CORS headers`);
  if (mark !== undefined) {
    const line = await stack.worker.waitForLog((l) => l.route === '/app/token' && l.status === 400 && l.error === logCode, { since: mark });
    assertLogLine(line, { failure: true });
  }
}

/** Verifies an assertion as the platform does: signature by {iss}/.well-known/jwks.json. */
async function verifyAssertion(assertion, { tenant = 'acme' } = {}) {
  const origin = stack.worker.tenantOrigin(tenant);
  const jwksRes = await request(`${origin}/.well-known/jwks.json`);
  assert.equal(jwksRes.status, 200);
  const { payload, protectedHeader } = await jwtVerify(assertion, createLocalJWKSet(jwksRes.json()), {
    issuer: origin,
    audience: stack.portal.url,
    algorithms: ['EdDSA'],
  });
  return { claims: payload, header: protectedHeader };
}

function assertAppClaims(claims, { tenant = 'acme', user = 'alice' } = {}) {
  const u = stack.op.users.find((x) => x.username === user);
  assert.equal(claims.iss, stack.worker.tenantOrigin(tenant), 'iss is the tenant origin');
  assert.equal(claims.aud, stack.portal.url, 'aud is portal_url');
  assert.equal(claims.tenant, tenant);
  assert.equal(claims.channel, 'app');
  assert.equal(claims.sub, u.sub);
  assert.equal(claims.email, u.email);
  assert.equal(claims.email_verified, u.email_verified);
  assert.equal(claims.name, u.name);
  assert.ok(claims.exp > claims.iat && claims.exp - claims.iat <= 120, 'exp at most 120 s after iat');
  assert.ok(typeof claims.jti === 'string' && claims.jti.length >= 16, 'jti');
  assert.equal(claims.provisioned, false);
  assert.ok(!('return_to' in claims) && !('portal_state' in claims), 'no web-only claims');
}

/** A 400 page of /app/login (before the redirect URI is known good) and its log code; nothing redirects. */
async function assertAppLinkRefused(url, code, what) {
  const mark = stack.worker.mark();
  const authorizeBefore = stack.op.log.authorize.length;
  const jar = new CookieJar('refused');
  const res = await request(url, { jar });
  assert.equal(res.status, 400, `${what}: status`);
  assert.equal(res.headers.location, undefined, `${what}: nothing redirects (${res.headers.location})`);
  assertHtmlHeaders(res, { what });
  assert.deepEqual(jar.cookies.map((c) => c.name), [], `${what}: no binding cookie, no login started`);
  assert.equal(stack.op.log.authorize.length, authorizeBefore, `${what}: nothing sent to the provider`);
  const line = await stack.worker.waitForLog((l) => l.route === '/app/login' && l.status === 400 && l.error === code, { since: mark });
  assertLogLine(line, { failure: true });
  assert.equal(line.error, code, `${what}: refused by the check it targets`);
  return res;
}

/**
 * A /app/login refused after its redirect URI is known good: 302 to the app with
 * error=invalid_request, the state only when it was valid, and iss; no login started.
 */
async function assertInvalidRequest(params, { redirectUri = APP_LINK, state, what }) {
  const mark = stack.worker.mark();
  const authorizeBefore = stack.op.log.authorize.length;
  const jar = new CookieJar('invalid');
  const res = await request(appLoginUrl('acme', { redirect_uri: redirectUri, ...params }), { jar });
  assert.equal(res.status, 302, `${what}: status (${res.body.slice(0, 200)})`);
  const loc = res.headers.location ?? '';
  assert.ok(loc.startsWith(`${redirectUri}${redirectUri.includes('?') ? '&' : '?'}`), `${what}: back to the app, not on to a login: ${loc}`);
  const q = new URL(loc).searchParams;
  assert.equal(q.get('error'), 'invalid_request', `${what}: error`);
  assert.ok((q.get('error_description') ?? '').length > 0, `${what}: error_description`);
  assert.equal(q.get('state'), state ?? null, `${what}: state ${state === undefined ? 'left out (it was not valid)' : 'echoed'}`);
  assert.equal(q.get('iss'), acme.origin, `${what}: iss (RFC 9207)`);
  assert.ok(!q.has('code'), `${what}: no code`);
  assert.match(res.headers['cache-control'] ?? '', /no-store/);
  assert.deepEqual(jar.cookies.map((c) => c.name), [], `${what}: no binding cookie, no login started`);
  assert.equal(stack.op.log.authorize.length, authorizeBefore, `${what}: nothing sent to the provider`);
  // Matched on its error: a line of an earlier login (logged just after its response) may
  // come after the mark too.
  const line = await stack.worker.waitForLog((l) => l.route === '/app/login' && l.status === 302 && l.error === 'app_invalid_request', { since: mark });
  assertLogLine(line);
  assert.equal(line.outcome, 'app_error_redirect', `${what}: the log line says what happened (${JSON.stringify(line)})`);
  assert.equal(line.error, 'app_invalid_request', `${what}: and why (${JSON.stringify(line)})`);
  return q;
}

// ---------------------------------------------------------------------------------------------

describe('end to end in Chromium: the app signs in on loopback', () => {
  test('/app/login → provider form → "Continue to the app" → code on loopback → /app/token → assertion verified against the JWKS', { timeout: 180_000 }, async () => {
    assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`);
    // The app's loopback listener (RFC 8252 §7.3): records what the browser brings it.
    const received = [];
    const app = await listen((req, res) => {
      const u = new URL(req.url, 'http://127.0.0.1');
      // Chromium also asks the page's origin for /favicon.ico: not a redirect.
      if (u.pathname !== '/favicon.ico') received.push(u);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><html><head><title>Passport App</title></head><body><h1>Signed in: return to the app</h1></body></html>');
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const problems = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(String(e)));
      page.on('response', (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
      });

      const redirectUri = `http://127.0.0.1:${app.port}/cb`;
      const pair = pkce();
      const state = freshState();
      const url = appLoginUrl('acme', { redirect_uri: redirectUri, state, code_challenge: pair.challenge, code_challenge_method: 'S256' });
      await page.goto(url);
      await page.waitForURL((u) => u.origin === stack.op.origin, { timeout: 20_000 });
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill(PASSWORD);
      await Promise.all([
        page.waitForURL((u) => u.origin === acme.origin && u.pathname === CALLBACK_PATH, { timeout: 30_000 }),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);

      // Loopback proves nothing about which app listens (RFC 8252 §8.6): the member confirms.
      await page.getByRole('heading', { name: 'Continue to the app as alice@example.com?' }).waitFor({ timeout: 10_000 });
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'app-continue.png'), fullPage: true });
      assert.equal(received.length, 0, 'nothing reached the app before the click');

      const landed = page.waitForURL((u) => u.origin === `http://127.0.0.1:${app.port}`, { timeout: 20_000 }).then(
        () => null,
        (e) => e,
      );
      await page.getByRole('button', { name: 'Continue' }).click();
      const failed = await landed;
      if (failed) await sleep(500); // the console message that says why trails the failure
      // Chromium applies the page's CSP form-action to the redirect that answers the POST too:
      // the Continue page must allow the app's redirect URI there, not only 'self'.
      assert.ok(
        !failed,
        `the browser did not reach the app's loopback redirect after "Continue" (app received ${received.length}); browser console: ${JSON.stringify(problems)}; ${failed?.message.split('\n')[0]}`,
      );
      await page.getByRole('heading', { name: /Signed in/ }).waitFor({ timeout: 10_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'app-landed.png'), fullPage: true });

      assert.equal(received.length, 1, 'the app received one redirect');
      const q = received[0].searchParams;
      assert.equal(received[0].pathname, '/cb');
      const code = q.get('code');
      keep(code);
      assert.match(code ?? '', B64U43, 'a code of 32 random bytes, base64url');
      assert.equal(q.get('state'), state, 'the app\'s state');
      assert.equal(q.get('iss'), acme.origin, 'iss: the tenant origin (RFC 9207)');

      // No worker session for app logins.
      const cookies = await context.cookies();
      for (const c of cookies) keep(c.value);
      const ours = cookies.filter((c) => c.domain.endsWith('localhost'));
      assert.ok(!ours.some((c) => /session/i.test(c.name)), `no session cookie of the worker's: ${ours.map((c) => c.name)}`);

      // The app redeems the code with its verifier…
      const mark = stack.worker.mark();
      const res = await token('acme', { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: pair.verifier });
      assert.equal(res.status, 200, res.body);
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      assert.match(res.headers['cache-control'] ?? '', /no-store/, 'Cache-Control: no-store');
      assert.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS headers');
      assert.deepEqual(Object.keys(res.json).sort(), ['assertion', 'expires_in', 'token_type']);
      assert.equal(res.json.token_type, 'assertion');
      assert.equal(res.json.expires_in, 120);
      const line = await stack.worker.waitForLog((l) => l.route === '/app/token' && l.status === 200, { since: mark });
      assertLogLine(line);

      // …and verifies the assertion as the platform does.
      const { claims, header } = await verifyAssertion(res.json.assertion);
      assertAppClaims(claims);
      assert.equal(header.alg, 'EdDSA');
      assert.equal(header.kid, JSON.parse(stack.worker.secrets.HANDOFF_SIGNING_KEY).kid);
      assert.ok(!('origin' in claims), 'no origin claim on the app channel');

      assert.deepEqual(problems.filter((p) => /Content Security Policy|Refused to/i.test(p)), [], 'no CSP violations');
    } finally {
      await context.close();
      await app.close();
    }
  });
});

describe('/app/login', () => {
  test('an https app link gets its code at once: 302 {redirect_uri}?code&state&iss, no session, the provider asked with the worker\'s own PKCE', async () => {
    const authorizeBefore = stack.op.log.authorize.length;
    const mark = stack.worker.mark();
    const s = await appLogin({ redirectUri: APP_LINK, user: 'bob' });
    assert.ok(s.appUrl, s.explain());
    assert.equal(`${s.appUrl.origin}${s.appUrl.pathname}`, APP_LINK);
    assert.deepEqual([...s.appUrl.searchParams.keys()], ['code', 'state', 'iss']);
    assert.equal(s.appUrl.searchParams.get('state'), s.state);
    assert.equal(s.appUrl.searchParams.get('iss'), acme.origin);

    // The start: binding cookie, then the ordinary authorize request (login_hint passed on;
    // the worker's own state, nonce and PKCE, never the app's challenge).
    assert.equal(s.start.status, 302);
    assert.ok(s.start.setCookies.some((h) => h.startsWith('portal_sso_browser=')), `binding cookie: ${s.start.setCookies}`);
    const auth = stack.op.log.authorize.slice(authorizeBefore).find((a) => a.params.client_id === acme.clientId);
    assert.ok(auth, 'an authorize request reached the provider');
    assert.equal(auth.params.redirect_uri, `${acme.origin}${CALLBACK_PATH}`);
    assert.equal(auth.params.login_hint, 'bob');
    assert.equal(auth.params.code_challenge_method, 'S256');
    assert.notEqual(auth.params.code_challenge, s.pair.challenge, 'the app\'s challenge is not sent to the provider');
    assert.notEqual(auth.params.state, s.state, 'the app\'s state is not the provider\'s');

    // The callback's answer: straight to the app, no session.
    const cb = callbackHop(s.chain);
    assert.equal(cb.status, 302);
    assert.match(cb.headers['cache-control'] ?? '', /no-store/);
    assert.ok(!cb.setCookies.some((h) => /session/i.test(h.split('=')[0])), `no session cookie: ${cb.setCookies}`);
    assert.deepEqual(sessionCookies(s.jar).map((c) => c.name), [], 'no session cookie in the browser');
    const line = await stack.worker.waitForLog((l) => l.route === CALLBACK_PATH && l.status === 302, { since: mark });
    assertLogLine(line);
    assert.equal(line.outcome, 'app_code');

    // The code is good once.
    const res = await token('acme', redeemFields({ code: s.appUrl.searchParams.get('code'), redirectUri: APP_LINK, pair: s.pair }));
    assert.equal(res.status, 200, res.body);
    assertAppClaims((await verifyAssertion(res.json.assertion)).claims, { user: 'bob' });
  });

  test('a redirect_uri with its own query gets its parameters after "&" (code and errors alike)', async () => {
    const c = await issueCode({ redirectUri: APP_LINK_Q });
    assert.ok(c.appUrl.href.startsWith(`${APP_LINK_Q}&code=`), c.appUrl.href.replace(/code=[^&]+/, 'code=…'));
    assert.equal(c.appUrl.searchParams.get('tenant'), 'acme', 'the registered query is kept');
    assert.equal(c.appUrl.searchParams.getAll('code').length, 1);
    const res = await token('acme', redeemFields(c));
    assert.equal(res.status, 200, res.body);
    // An error redirect too.
    const q = await assertInvalidRequest({ state: 'ok-state', code_challenge_method: 'S256' }, { redirectUri: APP_LINK_Q, state: 'ok-state', what: 'missing challenge, query redirect' });
    assert.equal(q.get('tenant'), 'acme');
  });

  test('unregistered and near-miss redirect URIs get a 400 page and nothing redirects', async () => {
    const good = { state: 'st', code_challenge: pkce().challenge, code_challenge_method: 'S256' };
    const cases = [
      ['missing', undefined, 'app_redirect_missing'],
      ['empty', '', 'app_redirect_missing'],
      ['unregistered', 'https://evil.example/cb', 'app_redirect_unregistered'],
      ['prefix', 'https://app.example.com/c', 'app_redirect_unregistered'],
      ['longer path', 'https://app.example.com/cb/x', 'app_redirect_unregistered'],
      ['trailing slash', 'https://app.example.com/cb/', 'app_redirect_unregistered'],
      ['other case (host)', 'https://APP.example.com/cb', 'app_redirect_unregistered'],
      ['other case (scheme)', 'COM.EXAMPLE.PASSPORT:/oauth2redirect', 'app_redirect_unregistered'],
      ['other case (path)', 'https://app.example.com/CB', 'app_redirect_unregistered'],
      ['extra query', 'https://app.example.com/cb?x=1', 'app_redirect_unregistered'],
      ['extra query on a query URI', `${APP_LINK_Q}&x=1`, 'app_redirect_unregistered'],
      ['query URI without its query', 'https://app.example.com/q', 'app_redirect_unregistered'],
      ['fragment', 'https://app.example.com/cb#f', 'app_redirect_unregistered'],
      ['empty fragment', 'https://app.example.com/cb#', 'app_redirect_unregistered'],
      ['private scheme with fragment', `${PRIVATE}#x`, 'app_redirect_unregistered'],
      ['explicit default port', 'https://app.example.com:443/cb', 'app_redirect_unregistered'],
      ['http on a non-loopback host', 'http://app.example.com/cb', 'app_redirect_unregistered'],
      ['http loopback by name', 'http://localhost:51234/cb', 'app_redirect_unregistered'],
      ['loopback, other IP', 'http://127.0.0.2:51234/cb', 'app_redirect_unregistered'],
      ['loopback, other path', 'http://127.0.0.1:51234/cb2', 'app_redirect_unregistered'],
      ['loopback, extra query', 'http://127.0.0.1:51234/cb?x=1', 'app_redirect_unregistered'],
      ['loopback, dot segments', 'http://127.0.0.1:51234/a/../cb', 'app_redirect_unregistered'],
      ['https loopback', 'https://127.0.0.1:51234/cb', 'app_redirect_unregistered'],
    ];
    for (const [what, redirectUri, code] of cases) {
      await assertAppLinkRefused(appLoginUrl('acme', { redirect_uri: redirectUri, ...good }), code, `redirect_uri ${what}`);
    }
    // Two redirect URIs (even both registered): which one is meant is not guessed.
    const twice = `${appLoginUrl('acme', { redirect_uri: APP_LINK, ...good })}&redirect_uri=${encodeURIComponent(APP_LINK_2)}`;
    await assertAppLinkRefused(twice, 'repeated_parameter', 'redirect_uri twice');
    // Until the redirect URI is good, even an otherwise bad request gets the page, not a redirect.
    await assertAppLinkRefused(appLoginUrl('acme', { redirect_uri: 'https://evil.example/cb', state: 'bad state' }), 'app_redirect_unregistered', 'unregistered with a bad state');
    // Control: a loopback URI on any port is registered.
    const ok = await request(appLoginUrl('acme', { redirect_uri: 'http://127.0.0.1:51234/cb', ...good }));
    assert.equal(ok.status, 302);
    assert.ok(ok.location.startsWith(`${stack.op.issuer}/auth?`), `loopback on another port starts a login: ${ok.location}`);
  });

  test('bad state, code_challenge or method: 302 invalid_request to the app, state only when valid', async () => {
    const challenge = pkce().challenge;
    const st = 'valid-state.1~_';
    const base = { state: st, code_challenge: challenge, code_challenge_method: 'S256' };
    // state
    await assertInvalidRequest({ ...base, state: undefined }, { what: 'state missing' });
    await assertInvalidRequest({ ...base, state: '' }, { what: 'state empty' });
    await assertInvalidRequest({ ...base, state: 'x'.repeat(257) }, { what: 'state of 257 chars' });
    await assertInvalidRequest({ ...base, state: 'has space' }, { what: 'state with a space' });
    await assertInvalidRequest({ ...base, state: 'a/b' }, { what: 'state with a slash' });
    await assertInvalidRequest({ ...base, state: '<script>' }, { what: 'state with markup' });
    await assertInvalidRequest({ ...base, state: 'caf\u00e9' }, { what: 'state not ASCII' });
    // code_challenge
    await assertInvalidRequest({ ...base, code_challenge: undefined }, { state: st, what: 'code_challenge missing' });
    await assertInvalidRequest({ ...base, code_challenge: '' }, { state: st, what: 'code_challenge empty' });
    await assertInvalidRequest({ ...base, code_challenge: challenge.slice(0, 42) }, { state: st, what: 'code_challenge of 42 chars' });
    await assertInvalidRequest({ ...base, code_challenge: `${challenge}A` }, { state: st, what: 'code_challenge of 44 chars' });
    await assertInvalidRequest({ ...base, code_challenge: 'A'.repeat(128) }, { state: st, what: 'code_challenge of 128 chars' });
    await assertInvalidRequest({ ...base, code_challenge: `${challenge.slice(0, 41)}+/` }, { state: st, what: 'code_challenge in standard base64' });
    await assertInvalidRequest({ ...base, code_challenge: `${challenge.slice(0, 42)}=` }, { state: st, what: 'code_challenge padded' });
    await assertInvalidRequest({ ...base, code_challenge: `${challenge.slice(0, 42)}.` }, { state: st, what: 'code_challenge with a non-base64url char' });
    // code_challenge_method
    await assertInvalidRequest({ ...base, code_challenge_method: 'plain' }, { state: st, what: 'plain method' });
    await assertInvalidRequest({ ...base, code_challenge_method: undefined }, { state: st, what: 'method missing' });
    await assertInvalidRequest({ ...base, code_challenge_method: 's256' }, { state: st, what: 'method s256 (lower case)' });
    // prompt as /login/sso reads it
    await assertInvalidRequest({ ...base, prompt: 'none' }, { state: st, what: 'prompt=none' });
    // A repeated parameter is not guessed either (which state would be echoed?).
    const repeated = `${appLoginUrl('acme', { redirect_uri: APP_LINK, ...base })}&code_challenge=${pkce().challenge}`;
    const res = await request(repeated);
    assert.equal(res.status, 302);
    const q = new URL(res.headers.location).searchParams;
    assert.ok(res.headers.location.startsWith(`${APP_LINK}?`), res.headers.location);
    assert.equal(q.get('error'), 'invalid_request', 'code_challenge twice');
    // Control: the same request once, valid, starts the login at the provider.
    const ok = await request(appLoginUrl('acme', { redirect_uri: APP_LINK, ...base }));
    assert.equal(ok.status, 302);
    assert.ok(ok.location.startsWith(`${stack.op.issuer}/auth?`), `a valid request starts a login: ${ok.location}`);
  });

  test('a disabled tenant, and one without app_redirect_uris: 404 on both app routes', async () => {
    const pair = pkce();
    for (const tenant of ['off', 'noapp']) {
      const mark = stack.worker.mark();
      const login = await request(appLoginUrl(tenant, { redirect_uri: APP_LINK, state: 'st', code_challenge: pair.challenge, code_challenge_method: 'S256' }));
      assert.equal(login.status, 404, `${tenant}: /app/login`);
      assert.equal(login.headers.location, undefined);
      assertHtmlHeaders(login, { what: `${tenant} /app/login 404` });
      const l1 = await stack.worker.waitForLog((l) => l.route === '/app/login' && l.status === 404 && l.tenant === tenant, { since: mark });
      assertLogLine(l1, { failure: true });
      assert.equal(l1.error, 'app_signin_off');

      const tok = await token(tenant, { grant_type: 'authorization_code', code: 'x'.repeat(43), redirect_uri: APP_LINK, code_verifier: pair.verifier });
      assert.equal(tok.status, 404, `${tenant}: /app/token`);
      assert.match(tok.headers['content-type'] ?? '', /^application\/json/, `${tenant}: /app/token answers JSON`);
      const l2 = await stack.worker.waitForLog((l) => l.route === '/app/token' && l.status === 404 && l.tenant === tenant, { since: mark });
      assertLogLine(l2, { failure: true });
      assert.equal(l2.error, 'app_signin_off', 'the same log code on both routes');
      assert.equal(tok.json?.error, 'not_found');
      assert.ok(tok.json?.error_description, 'RFC 6749 §5.2 shape for every /app/token refusal');

      const cont = await request(`${stack.worker.tenantOrigin(tenant)}/app/continue`, { method: 'POST', body: new URLSearchParams({ continue: 'x'.repeat(43), csrf: 'y' }) });
      assert.equal(cont.status, 404, `${tenant}: /app/continue`);
    }
  });
});

describe('"Continue to the app" for private-use schemes and loopback (RFC 8252 §8.6)', () => {
  test('a private-scheme login stops at the Continue page and gets no code until the click', async () => {
    const mark = stack.worker.mark();
    const s = await appLogin({ redirectUri: PRIVATE });
    assert.equal(s.appUrl, null, `nothing redirected to the app: ${s.explain()}`);
    assert.equal(s.response.status, 200, s.explain());
    assert.equal(new URL(s.response.url).pathname, CALLBACK_PATH);
    assertHtmlHeaders(s.response, { perMember: true, what: 'Continue page' });
    assert.ok(pageText(s.response.body).includes('Continue to the app as alice@example.com?'), pageText(s.response.body).slice(0, 300));
    const form = continueForm(s.response);
    assert.ok(form, 'a POST form to /app/continue');
    assert.equal(new URL(form.action).origin, acme.origin, 'on the tenant host');
    assert.deepEqual([...form.fields.keys()].sort(), ['continue', 'csrf']);
    keep(form.fields.get('continue'), form.fields.get('csrf'));
    // No code anywhere yet: not in a Location, not in the page.
    for (const r of s.chain) assert.ok(!(r.headers.location ?? '').startsWith(PRIVATE), `no redirect to the app: ${r.headers.location}`);
    assert.ok(!/[?&]code=/.test(s.response.body), 'no code in the page');
    assert.deepEqual(sessionCookies(s.jar).map((c) => c.name), [], 'no session cookie');
    const line = await stack.worker.waitForLog((l) => l.route === CALLBACK_PATH && l.status === 200, { since: mark });
    assert.equal(line.outcome, 'app_continue');
    // The Continue id is no code.
    const asCode = await token('acme', { grant_type: 'authorization_code', code: form.fields.get('continue'), redirect_uri: PRIVATE, code_verifier: s.pair.verifier });
    await assertTokenError(asCode, 'invalid_grant', { what: 'the continue id as a code' });
    // GET does not click.
    const get = await request(`${acme.origin}/app/continue?${form.fields}`, { jar: s.jar });
    assert.equal(get.status, 405);
    assert.equal(get.headers.location, undefined);

    // The click gives the code, once.
    const click = await clickContinue(s);
    assert.equal(click.status, 302, click.body.slice(0, 300));
    assert.ok(click.headers.location.startsWith(`${PRIVATE}?code=`), click.headers.location.replace(/code=[^&]+/, 'code=…'));
    const loc = new URL(click.headers.location);
    assert.equal(loc.searchParams.get('state'), s.state);
    assert.equal(loc.searchParams.get('iss'), acme.origin);
    assert.match(click.headers['cache-control'] ?? '', /no-store/);
    const again = await clickContinue(s);
    assert.equal(again.status, 400, 'a second click gets nothing');
    assert.equal(again.headers.location, undefined);
    const res = await token('acme', { grant_type: 'authorization_code', code: loc.searchParams.get('code'), redirect_uri: PRIVATE, code_verifier: s.pair.verifier });
    assert.equal(res.status, 200, res.body);
    assertAppClaims((await verifyAssertion(res.json.assertion)).claims);
  });

  test('a forged Continue POST — no binding cookie, no or wrong CSRF token, another tenant, unknown id — is refused; the real click still works', async () => {
    const s = await appLogin({ redirectUri: PRIVATE, user: 'bob' });
    const form = continueForm(s.response);
    assert.ok(form, s.explain());
    const id = form.fields.get('continue');
    const csrf = form.fields.get('csrf');
    keep(id, csrf);
    const post = (host, fields, jar) => request(`${host}/app/continue`, { method: 'POST', body: new URLSearchParams(fields), jar });
    // The attacker's own sign-in, in the attacker's browser: its own binding cookie.
    const attacker = await appLogin({ redirectUri: PRIVATE, user: 'alice', jar: new CookieJar('attacker') });
    assert.ok(continueForm(attacker.response), attacker.explain());

    const refusals = [
      ['without the binding cookie', () => post(acme.origin, { continue: id, csrf }, new CookieJar('elsewhere')), 'continue_csrf_mismatch'],
      ['with the cookie, CSRF missing', () => post(acme.origin, { continue: id }, s.jar), 'continue_csrf_mismatch'],
      ['with the cookie, CSRF empty', () => post(acme.origin, { continue: id, csrf: '' }, s.jar), 'continue_csrf_mismatch'],
      ['with the cookie, CSRF wrong', () => post(acme.origin, { continue: id, csrf: crypto.randomBytes(32).toString('base64url') }, s.jar), 'continue_csrf_mismatch'],
      ['another browser\'s cookie and the right CSRF', () => post(acme.origin, { continue: id, csrf }, attacker.jar), 'continue_csrf_mismatch'],
      // The binding cookie belongs to acme's host: beta's never sees it (and another tenant's
      // store holds nothing under this id either).
      ['on another tenant\'s host', () => post(stack.worker.tenantOrigin('beta'), { continue: id, csrf }, s.jar), 'continue_csrf_mismatch'],
      ['unknown id, with the CSRF token this browser would have for it', () => {
        const unknown = crypto.randomBytes(32).toString('base64url');
        const browser = s.jar.cookies.find((c) => c.name === 'portal_sso_browser')?.value ?? '';
        const token = crypto.createHmac('sha256', browser).update(`portal-sso continue:${unknown}`).digest('base64url');
        return post(acme.origin, { continue: unknown, csrf: token }, s.jar);
      }, 'continue_unknown'],
      ['unknown id, the real id\'s CSRF token', () => post(acme.origin, { continue: crypto.randomBytes(32).toString('base64url'), csrf }, s.jar), 'continue_csrf_mismatch'],
      ['no id', () => post(acme.origin, { csrf }, s.jar), 'continue_unknown'],
    ];
    for (const [what, send, code] of refusals) {
      const mark = stack.worker.mark();
      const res = await send();
      assert.equal(res.status, 400, `${what}: status`);
      assert.equal(res.headers.location, undefined, `${what}: no redirect to the app`);
      assert.ok(!/[?&]code=/.test(res.body), `${what}: no code in the page`);
      assertHtmlHeaders(res, { what });
      const line = await stack.worker.waitForLog((l) => l.route === '/app/continue' && l.status === 400 && l.error === code, { since: mark });
      assertLogLine(line, { failure: true });
      assert.equal(line.error, code, `${what}: refused by the check it targets`);
    }
    // None of them used the waiting sign-in up: the member's own click still gets the code.
    const click = await clickContinue(s);
    assert.equal(click.status, 302, click.body.slice(0, 300));
    const loc = new URL(click.headers.location);
    assert.equal(loc.searchParams.get('state'), s.state);
    const res = await token('acme', { grant_type: 'authorization_code', code: loc.searchParams.get('code'), redirect_uri: PRIVATE, code_verifier: s.pair.verifier });
    assert.equal(res.status, 200, res.body);
    assert.equal((await verifyAssertion(res.json.assertion)).claims.email, 'bob@example.com');
  });

  test('a loopback redirect URI also asks first; the code goes to the port the app asked for', async () => {
    const redirectUri = 'http://127.0.0.1:50123/cb';
    const s = await appLogin({ redirectUri });
    assert.equal(s.appUrl, null, s.explain());
    assert.ok(continueForm(s.response), s.explain());
    const click = await clickContinue(s);
    assert.equal(click.status, 302);
    assert.ok(click.headers.location.startsWith(`${redirectUri}?code=`), click.headers.location.replace(/code=[^&]+/, 'code=…'));
    const code = new URL(click.headers.location).searchParams.get('code');
    // Redeemed with the registered form (no port) it is not the redirect_uri it went to.
    const wrong = await token('acme', { grant_type: 'authorization_code', code, redirect_uri: LOOPBACK, code_verifier: s.pair.verifier });
    await assertTokenError(wrong, 'invalid_grant', { what: 'loopback code, registered redirect_uri instead of the one used' });
  });
});

describe('the callback of an app login: every failure after checks 1–2 goes back to the app', () => {
  async function expectErrorRedirect({ tenant = 'acme', redirectUri = APP_LINK, user = 'alice', error, logCode, what }) {
    const mark = stack.worker.mark();
    const s = await appLogin({ tenant, redirectUri, user });
    assert.ok(s.appUrl, `${what}: redirected to the app\n${s.explain()}`);
    assert.ok(s.appUrl.href.startsWith(`${redirectUri}${redirectUri.includes('?') ? '&' : '?'}`), `${what}: ${s.appUrl.href}`);
    const q = s.appUrl.searchParams;
    assert.equal(q.get('error'), error, `${what}: error`);
    const description = q.get('error_description') ?? '';
    assert.ok(description.length > 0 && description.length <= 200, `${what}: a short error_description`);
    assert.doesNotMatch(description, /[<>]/, `${what}: no markup in error_description`);
    assert.equal(q.get('state'), s.state, `${what}: the app's state`);
    assert.equal(q.get('iss'), stack.worker.tenantOrigin(tenant), `${what}: iss`);
    assert.ok(!q.has('code'), `${what}: no code`);
    const cb = callbackHop(s.chain);
    assert.equal(cb.status, 302, `${what}: the callback redirects (no page)`);
    assert.ok(!cb.setCookies.some((h) => /session/i.test(h.split('=')[0])), `${what}: no session cookie`);
    const line = await stack.worker.waitForLog((l) => l.route === CALLBACK_PATH && l.status === 302 && l.outcome === 'app_error_redirect', { since: mark });
    assertLogLine(line, { failure: true });
    assert.equal(line.error, logCode, `${what}: the log keeps the original failure`);
    return { s, q };
  }

  test('access_denied at the provider (mallory) reaches the app as error=access_denied with its state — even for a private scheme, with no Continue step', async () => {
    await expectErrorRedirect({ user: 'mallory', error: 'access_denied', logCode: 'idp_access_denied', what: 'access_denied, https' });
    await expectErrorRedirect({ user: 'mallory', redirectUri: PRIVATE, error: 'access_denied', logCode: 'idp_access_denied', what: 'access_denied, private scheme' });
    await expectErrorRedirect({ user: 'mallory', redirectUri: APP_LINK_Q, error: 'access_denied', logCode: 'idp_access_denied', what: 'access_denied, query redirect' });
  });

  test('the provider\'s own error code is passed on; a web 403 becomes access_denied, provisioning\'s 503 temporarily_unavailable, anything else server_error', { timeout: 120_000 }, async () => {
    // The IdP's own OAuth error code.
    const as1 = bad.server('app-idp-err', { authorizeError: { error: 'consent_required', error_description: 'no <b>consent</b>' } });
    await stack.createTenant('app-idp-err', { client_secret: awkwardSecret(), app_redirect_uris: [APP_LINK] }, { provider: as1 });
    await expectErrorRedirect({ tenant: 'app-idp-err', user: null, error: 'consent_required', logCode: 'idp_error', what: 'IdP error code' });
    // One that is no OAuth error token is not reflected.
    const as2 = bad.server('app-idp-odd', { authorizeError: { error: 'Weird<Error>' } });
    await stack.createTenant('app-idp-odd', { client_secret: awkwardSecret(), app_redirect_uris: [APP_LINK] }, { provider: as2 });
    await expectErrorRedirect({ tenant: 'app-idp-odd', user: null, error: 'server_error', logCode: 'idp_error', what: 'a malformed IdP error code' });
    // An ID token that does not verify (a 502 on the web).
    const as3 = bad.server('app-bad-iss', { idToken: 'wrong-iss' });
    await stack.createTenant('app-bad-iss', { client_secret: awkwardSecret(), app_redirect_uris: [APP_LINK] }, { provider: as3 });
    await expectErrorRedirect({ tenant: 'app-bad-iss', user: null, error: 'server_error', logCode: 'id_token_wrong_issuer', what: 'ID token from another issuer' });
    // RFC 9207 iss on the callback that is not the issuer.
    const as4 = bad.server('app-iss-param', { issOnCallback: 'wrong' });
    await stack.createTenant('app-iss-param', { client_secret: awkwardSecret(), app_redirect_uris: [APP_LINK] }, { provider: as4 });
    await expectErrorRedirect({ tenant: 'app-iss-param', user: null, error: 'server_error', logCode: 'iss_param_mismatch', what: 'iss parameter mismatch' });
    for (const as of [as1, as2, as3, as4]) keep(...as.secrets());

    // A 403 on the web: the email is not verified (carol)…
    await expectErrorRedirect({ user: 'carol', error: 'access_denied', logCode: 'email_unverified', what: 'unverified email' });
    // …or the email's domain is not allowed.
    await stack.createTenant('app-gate', { app_redirect_uris: [APP_LINK], allowed_email_domains: ['example.org'] });
    await expectErrorRedirect({ tenant: 'app-gate', error: 'access_denied', logCode: 'email_domain_not_allowed', what: 'email domain gate' });

    // Provisioning: the receiver refuses (a 403 on the web)…
    const prov = await stack.createTenant('app-prov', { app_redirect_uris: [APP_LINK], provision_new_users: true, provisioning_webhook_url: stack.portal.webhookUrl });
    keep(prov.webhookSecret);
    stack.portal.webhook.script.push(403);
    await expectErrorRedirect({ tenant: 'app-prov', error: 'access_denied', logCode: 'provisioning_rejected', what: 'provisioning refused' });
    // …or cannot be reached in time (the 503 "try again in a minute").
    stack.portal.webhook.mode = 'down';
    try {
      await expectErrorRedirect({ tenant: 'app-prov', user: 'bob', error: 'temporarily_unavailable', logCode: 'provisioning_queued', what: 'provisioning pending' });
    } finally {
      stack.portal.webhook.mode = 'up';
    }
    // With the receiver back, the same app login ends in a code.
    stack.portal.webhook.script.push(201);
    const c = await issueCode({ tenant: 'app-prov', user: 'dave' });
    const res = await token('app-prov', redeemFields(c));
    assert.equal(res.status, 200, res.body);
    // (The queue may retry bob's delivery meanwhile and take the scripted 201: only the type is sure.)
    assert.equal(typeof (await verifyAssertion(res.json.assertion, { tenant: 'app-prov' })).claims.provisioned, 'boolean');
  });

  test('checks 1–2 still answer with a page: an unknown state, and a callback in another browser', async () => {
    // Started by the app, then its callback delivered in a browser without the binding cookie.
    const jar = new CookieJar('app-start');
    const pair = pkce();
    const start = await request(appLoginUrl('acme', { redirect_uri: APP_LINK, state: 'st-1', code_challenge: pair.challenge, code_challenge_method: 'S256', login_hint: 'alice' }), { jar });
    const { next } = await follow(start, { jar, stopBefore: (n) => new URL(n.url).pathname === CALLBACK_PATH });
    assert.ok(next, 'the provider answered');
    const mark = stack.worker.mark();
    const elsewhere = await request(next.url, { jar: new CookieJar('other-browser') });
    assert.equal(elsewhere.status, 400);
    assert.equal(elsewhere.headers.location, undefined, 'no redirect to the app from a foreign browser');
    const line = await stack.worker.waitForLog((l) => l.route === CALLBACK_PATH && l.status === 400 && l.error === 'browser_mismatch', { since: mark });
    assert.equal(line.error, 'browser_mismatch');
    // An unknown state: the "start again" page.
    const unknown = await request(`${acme.origin}${CALLBACK_PATH}?code=abc&state=${crypto.randomBytes(32).toString('base64url')}`);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.headers.location, undefined);
  });
});

describe('/app/token: the one-time code', () => {
  test('a code used twice, one after the other: the second is invalid_grant', async () => {
    const c = await issueCode();
    const first = await token('acme', redeemFields(c));
    assert.equal(first.status, 200, first.body);
    const mark = stack.worker.mark();
    const second = await token('acme', redeemFields(c));
    await assertTokenError(second, 'invalid_grant', { mark, what: 'second redemption' });
  });

  test('a code redeemed twice at once: exactly one 200', async () => {
    for (let round = 0; round < 3; round += 1) {
      const c = await issueCode();
      const mark = stack.worker.mark();
      const results = await Promise.all([token('acme', redeemFields(c)), token('acme', redeemFields(c)), token('acme', redeemFields(c))]);
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 400, 400], `round ${round}: ${results.map((r) => `${r.status} ${r.body.slice(0, 80)}`).join(' | ')}`);
      for (const r of results.filter((x) => x.status !== 200)) await assertTokenError(r, 'invalid_grant', { mark, what: `round ${round} loser` });
    }
  });

  test('a code with another redirect_uri is refused, and is then spent', async () => {
    const c = await issueCode({ redirectUri: APP_LINK });
    const mark = stack.worker.mark();
    const other = await token('acme', redeemFields(c, { redirect_uri: APP_LINK_2 }));
    await assertTokenError(other, 'invalid_grant', { mark, what: 'another registered redirect_uri' });
    const right = await token('acme', redeemFields(c));
    await assertTokenError(right, 'invalid_grant', { what: 'the right redirect_uri after a wrong one' });
  });

  test('a wrong verifier, then the right one: both fail (the code is spent)', async () => {
    const c = await issueCode();
    const mark = stack.worker.mark();
    const wrong = await token('acme', redeemFields(c, { code_verifier: pkce().verifier }));
    await assertTokenError(wrong, 'invalid_grant', { mark, what: 'wrong verifier' });
    const right = await token('acme', redeemFields(c));
    await assertTokenError(right, 'invalid_grant', { what: 'right verifier after a wrong one' });
    // The challenge itself is no verifier (plain would accept it).
    const d = await issueCode();
    const plain = await token('acme', redeemFields(d, { code_verifier: d.pair.challenge }));
    await assertTokenError(plain, 'invalid_grant', { what: 'the challenge as verifier' });
  });

  test('a malformed request that names a code uses it up too', async () => {
    const c = await issueCode();
    const mark = stack.worker.mark();
    const short = await token('acme', redeemFields(c, { code_verifier: 'too-short' }));
    await assertTokenError(short, 'invalid_request', { mark, what: 'verifier of 9 chars' });
    const right = await token('acme', redeemFields(c));
    await assertTokenError(right, 'invalid_grant', { what: 'after a malformed attempt' });
    const d = await issueCode();
    const grant = await token('acme', redeemFields(d, { grant_type: 'password' }));
    await assertTokenError(grant, 'unsupported_grant_type', { mark, what: 'grant_type password' });
    await assertTokenError(await token('acme', redeemFields(d)), 'invalid_grant', { what: 'after unsupported_grant_type' });
  });

  test('a code of tenant A redeemed on tenant B\'s host (which lists the same redirect_uri) is invalid_grant and used up', async () => {
    const c = await issueCode({ tenant: 'acme' });
    const mark = stack.worker.mark();
    const onBeta = await token('beta', redeemFields(c));
    await assertTokenError(onBeta, 'invalid_grant', { mark, what: 'acme code on beta' });
    const line = await stack.worker.waitForLog((l) => l.route === '/app/token' && l.status === 400 && l.tenant === 'beta', { since: mark });
    assert.equal(line.error, 'token_invalid_grant');
    const onAcme = await token('acme', redeemFields(c));
    await assertTokenError(onAcme, 'invalid_grant', { what: 'acme code back on acme after the attempt on beta' });
  });

  test('form parameters: every one required, verifier 43–128 unreserved chars, the right grant type, no repeats', async () => {
    const c = await issueCode();
    const ok = redeemFields(c);
    const cases = [
      ['no grant_type', { ...ok, grant_type: undefined }, 'invalid_request'],
      ['no code', { ...ok, code: undefined }, 'invalid_request'],
      ['no redirect_uri', { ...ok, redirect_uri: undefined }, 'invalid_request'],
      ['no code_verifier', { ...ok, code_verifier: undefined }, 'invalid_request'],
      ['verifier of 42 chars', { ...ok, code_verifier: 'a'.repeat(42) }, 'invalid_request'],
      ['verifier of 129 chars', { ...ok, code_verifier: 'a'.repeat(129) }, 'invalid_request'],
      ['verifier with a space', { ...ok, code_verifier: `${'a'.repeat(42)} b` }, 'invalid_request'],
      ['verifier with +', { ...ok, code_verifier: `${'a'.repeat(42)}+` }, 'invalid_request'],
      ['grant_type refresh_token', { ...ok, grant_type: 'refresh_token' }, 'unsupported_grant_type'],
      ['unknown code', { ...ok, code: crypto.randomBytes(32).toString('base64url') }, 'invalid_grant'],
    ];
    for (const [what, fields, error] of cases) {
      const mark = stack.worker.mark();
      // A fresh code for each, so that nothing but the named defect is wrong.
      const d = fields.code === ok.code ? await issueCode() : null;
      const f = d ? { ...fields, code: d.code, ...(fields.code_verifier === ok.code_verifier ? { code_verifier: d.pair.verifier } : {}) } : fields;
      await assertTokenError(await token('acme', f), error, { mark, what });
    }
    const mark = stack.worker.mark();
    const twice = new URLSearchParams(redeemFields(c));
    twice.append('code_verifier', c.pair.verifier);
    await assertTokenError(await token('acme', null, { body: twice.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'invalid_request', { mark, what: 'code_verifier twice' });
  });

  test('a body in another content type — JSON, text — is invalid_request, even when it reads as a good form', async () => {
    const c = await issueCode();
    const form = new URLSearchParams(redeemFields(c)).toString();
    for (const [what, body, type] of [
      ['JSON', JSON.stringify(redeemFields(c)), 'application/json'],
      ['a form labelled JSON', form, 'application/json'],
      ['a form labelled text/plain', form, 'text/plain'],
      ['a form labelled multipart', form, 'multipart/form-data; boundary=x'],
      ['no content type', form, undefined],
    ]) {
      const mark = stack.worker.mark();
      const res = await token('acme', null, { body, headers: type ? { 'content-type': type } : {} });
      await assertTokenError(res, 'invalid_request', { mark, what });
    }
    // The content type's parameters and case do not matter.
    const d = await issueCode();
    const ok = await token('acme', null, { body: new URLSearchParams(redeemFields(d)).toString(), headers: { 'content-type': 'Application/X-WWW-Form-URLEncoded; charset=UTF-8' } });
    assert.equal(ok.status, 200, ok.body);
  });

  test('a body over 8 KiB gets 413; one of exactly 8 KiB is read', async () => {
    const c = await issueCode();
    const base = new URLSearchParams(redeemFields(c)).toString();
    const padTo = (n) => `${base}&pad=${'p'.repeat(n - base.length - '&pad='.length)}`;
    const mark = stack.worker.mark();
    const big = await token('acme', null, { body: padTo(8 * 1024 + 1), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(big.status, 413, big.body);
    assert.match(big.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(big.json?.error, 'invalid_request', 'RFC 6749 §5.2 JSON for every refusal');
    assert.ok(big.json?.error_description, big.body);
    const line = await stack.worker.waitForLog((l) => l.route === '/app/token' && l.status === 413, { since: mark });
    assertLogLine(line, { failure: true });
    assert.equal(line.error, 'body_too_large');
    const exact = await token('acme', null, { body: padTo(8 * 1024), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(exact.status, 200, `8192 bytes are allowed: ${exact.body}`);
  });

  test('GET (and other methods) on /app/token: 405 JSON with Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'HEAD']) {
      const mark = stack.worker.mark();
      const res = await request(`${acme.origin}/app/token`, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.allow, 'POST', `${method}: Allow`);
      if (method !== 'HEAD') {
        assert.match(res.headers['content-type'] ?? '', /^application\/json/, `${method}: JSON`);
        assert.equal(JSON.parse(res.body).error, 'method_not_allowed');
      }
      const line = await stack.worker.waitForLog((l) => l.route === '/app/token' && l.status === 405, { since: mark });
      assert.equal(line.error, 'method_not_allowed');
    }
  });

  // One 62 s wait serves both tests below (they run in order).
  let late = null;
  test('a code after 60 s is invalid_grant', { timeout: 120_000 }, async () => {
    const c = await issueCode();
    const issuedAt = Date.now();
    // A control code, redeemed well inside the minute.
    const d = await issueCode();
    assert.equal((await token('acme', redeemFields(d))).status, 200);
    await sleep(Math.max(0, issuedAt + 62_000 - Date.now()));
    const mark = stack.worker.mark();
    late = await token('acme', redeemFields(c));
    await assertTokenError(late, 'invalid_grant', { mark, what: 'a code 62 s old' });
  });

  test('an unredeemed code is gone once its 60 s are up: the Durable Object\'s alarm deleted it', () => {
    assert.ok(late, 'the test above ran');
    // A record still there would be taken out and found expired ("the code has expired");
    // a record the expiry alarm deleted is simply unknown. Nothing may outlive its minute.
    assert.match(
      late.json.error_description,
      /unknown|used/,
      `62 s after issue the code's record was still in its Durable Object (no alarm at expiry?): ${late.json.error_description}`,
    );
  });
});

describe('/app/token rate limit: 60 per minute per IP and tenant', () => {
  test('the 61st request from one CF-Connecting-IP is 429 JSON with Retry-After, uses nothing up; another IP, or another tenant, still gets through', { timeout: 120_000 }, async () => {
    // Local counters run in fixed windows of the wall clock's minutes: start early in one.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await sleep(60_000 - intoMinute + 200);
    const c = await issueCode();
    const ip = '203.0.113.61';
    const junk = { grant_type: 'authorization_code' }; // invalid_request: names no code
    for (let i = 1; i <= 60; i += 1) {
      const r = await token('acme', junk, { ip });
      assert.equal(r.status, 400, `request ${i} is under the limit (${r.status} ${r.body})`);
    }
    const mark = stack.worker.mark();
    const limited = await token('acme', redeemFields(c), { ip });
    assert.equal(limited.status, 429, `the 61st: ${limited.status} ${limited.body}`);
    assert.match(limited.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(limited.json?.error, 'rate_limited');
    assert.match(limited.headers['retry-after'] ?? '', /^[1-9]\d*$/, `Retry-After: ${limited.headers['retry-after']}`);
    const line = await stack.worker.waitForLog((l) => l.route === '/app/token' && l.status === 429, { since: mark });
    assertLogLine(line, { failure: true });
    assert.equal(line.error, 'rate_limited');
    // Another tenant's counter for the same address is its own.
    const beta = await token('beta', junk, { ip });
    assert.equal(beta.status, 400, `the same IP on another tenant: ${beta.body}`);
    // The limited request used nothing up: the code still works from another address.
    const other = await token('acme', redeemFields(c), { ip: '203.0.113.62' });
    assert.equal(other.status, 200, `another IP, the same code: ${other.body}`);
  });
});

describe('single use and registration, end to end', () => {
  test('two Continue clicks at once: one code, and the other click gets nothing', async () => {
    const s = await appLogin({ redirectUri: PRIVATE, user: 'alice' });
    const clicks = await Promise.all([clickContinue(s), clickContinue(s), clickContinue(s)]);
    const statuses = clicks.map((c) => c.status).sort();
    assert.deepEqual(statuses, [302, 400, 400], 'exactly one click gets the code');
    const won = clicks.find((c) => c.status === 302);
    assert.ok(won.headers.location.startsWith(`${PRIVATE}?code=`));
  });

  test('an app redirect URI removed while in use: the login under way, the waiting click and the issued code all stop', async () => {
    const t = await stack.createTenant('shrink', { app_redirect_uris: [APP_LINK, APP_LINK_2, PRIVATE] });
    // (a) a login at the provider, its callback not yet delivered;
    const pair = pkce();
    const jar = new CookieJar('shrink-a');
    const start = await request(appLoginUrl('shrink', { redirect_uri: PRIVATE, state: freshState(), code_challenge: pair.challenge, code_challenge_method: 'S256', login_hint: 'alice' }), { jar });
    const { next } = await follow(start, { jar, stopBefore: (n) => new URL(n.url).pathname === CALLBACK_PATH });
    assert.ok(next, 'stopped before the callback');
    // (b) a sign-in waiting on its Continue click;
    const waiting = await appLogin({ tenant: 'shrink', redirectUri: PRIVATE, user: 'bob' });
    assert.ok(continueForm(waiting.response), waiting.explain());
    // (c) a code issued to an app link.
    const c = await issueCode({ tenant: 'shrink', redirectUri: APP_LINK });

    // The admin removes both URIs.
    const put = await putTenant(stack.worker, 'shrink', { ...t.config, app_redirect_uris: [APP_LINK_2] });
    assert.equal(put.status, 200, put.body);

    const markA = stack.worker.mark();
    const callback = await request(next.url, { jar });
    assert.equal(callback.status, 400, '(a) a page, not a redirect to a URI no longer registered');
    assert.equal(callback.headers.location, undefined);
    await stack.worker.waitForLog((l) => l.route === CALLBACK_PATH && l.error === 'app_redirect_unregistered', { since: markA });

    const markB = stack.worker.mark();
    const click = await clickContinue(waiting);
    assert.equal(click.status, 400, '(b) the click gets no code');
    assert.equal(click.headers.location, undefined);
    await stack.worker.waitForLog((l) => l.route === '/app/continue' && l.error === 'app_redirect_unregistered', { since: markB });

    const res = await token('shrink', redeemFields(c));
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.error, 'invalid_grant', '(c) the code no longer redeems');
  });
});

describe('admin API: app_redirect_uris', () => {
  test('GET/PUT round trip keeps the list exactly; 422 per bad entry, nothing stored', async () => {
    const list = ['https://App.example.org/cb', 'com.example.passport:/oauth2redirect', 'com.example.passport://callback?x=1', 'http://127.0.0.1/cb', 'http://[::1]:8080/cb'];
    const t = await stack.createTenant('app-admin', { app_redirect_uris: list });
    assert.deepEqual(t.response.json?.app_redirect_uris ?? list, list);
    const got = await stack.worker.admin('GET', '/admin/tenants/app-admin');
    assert.equal(got.status, 200);
    assert.deepEqual(got.json.app_redirect_uris, list, 'kept exactly, in order, case and all');
    // The GET body PUT back as it is.
    const back = await stack.worker.admin('PUT', '/admin/tenants/app-admin', got.json);
    assert.equal(back.status, 200, back.body);
    assert.deepEqual((await stack.worker.admin('GET', '/admin/tenants/app-admin')).json.app_redirect_uris, list);
    // Default: empty.
    assert.deepEqual((await stack.worker.admin('GET', '/admin/tenants/noapp')).json.app_redirect_uris, []);

    const bads = [
      [['https://app.example.org/cb#frag'], 'app_redirect_uris[0]', 'fragment'],
      [['https://app.example.org/cb', 'myapp:/cb'], 'app_redirect_uris[1]', 'private scheme without a dot'],
      [['http://localhost/cb'], 'app_redirect_uris[0]', 'http on a loopback name'],
      [['http://app.example.org/cb'], 'app_redirect_uris[0]', 'http on a public host'],
      [['Com.Example.App:/cb'], 'app_redirect_uris[0]', 'scheme not in lower case'],
      [['javascript:alert(1)'], 'app_redirect_uris[0]', 'javascript:'],
      [['https://user@app.example.org/cb'], 'app_redirect_uris[0]', 'user info'],
      [['/relative'], 'app_redirect_uris[0]', 'relative'],
      [[''], 'app_redirect_uris[0]', 'empty'],
      [[3], 'app_redirect_uris[0]', 'not a string'],
      ['com.example.app:/cb', 'app_redirect_uris', 'not a list'],
      [Array.from({ length: 11 }, (_, i) => `https://app.example.org/cb${i}`), 'app_redirect_uris', 'eleven'],
    ];
    for (const [value, field, what] of bads) {
      const res = await stack.worker.admin('PUT', '/admin/tenants/app-admin', { ...got.json, app_redirect_uris: value });
      assert.equal(res.status, 422, `${what}: ${res.body}`);
      const fields = res.json.errors.map((e) => e.field);
      assert.ok(fields.includes(field), `${what}: errors name ${field}: ${JSON.stringify(res.json.errors)}`);
      assert.ok(res.json.errors.every((e) => typeof e.message === 'string' && e.message.length > 0));
    }
    assert.deepEqual((await stack.worker.admin('GET', '/admin/tenants/app-admin')).json.app_redirect_uris, list, 'nothing stored by a 422');
    // Ten is allowed.
    const ten = Array.from({ length: 10 }, (_, i) => `https://app.example.org/cb${i}`);
    const r10 = await putTenant(stack.worker, 'app-admin', { ...got.json, app_redirect_uris: ten });
    assert.equal(r10.status, 200, r10.body);
  });
});

test('no code, verifier, assertion, CSRF token, cookie or other secret reaches the worker\'s output', () => {
  keep(...stack.op.log.secrets, ...bad.allSecrets());
  assertNoSecrets(stack.worker.output(), secrets, 'wrangler output');
});
