// Issue 3 — hosted sign-in against the real OpenID Provider (oidc-provider on loopback):
// login page, both client auth methods, idp/login_hint, password login disabled, key
// rotation, replayed and cross-browser callbacks, two tabs, access_denied escaping,
// unverified email, userinfo fallback, logout round trip, return_to and portal_state.

import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CookieJar, assertSpecPhrase, follow, pageText, parseForms, request, submitForm, describeChain } from '../support/http.mjs';
import { startStack, startLogin, completeLogin, handoffForm, CALLBACK_PATH } from '../support/stack.mjs';
import { DENY_DESCRIPTION } from '../support/op.mjs';
import { assertHtmlHeaders, assertLocalDevCookie, assertNoHandoff, assertNoSecrets, assertLogLine, parseCsp } from '../support/assert.mjs';

let stack;
let acme; // client_secret_basic, idp_id set
let beta; // client_secret_post
const jars = [];
const assertions = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64u43 = /^[A-Za-z0-9_-]{43}$/;

before(async () => {
  stack = await startStack({ worker: { name: 'signin' } });
  acme = await stack.createTenant('acme', { idp_id: '0oaidpacme00000001', sign_in_button_label: 'Sign in with <Acme> & "Co"' });
  beta = await stack.createTenant('beta', { token_endpoint_auth_method: 'client_secret_post' });
});

after(async () => {
  await stack?.stop();
});

function jar(name) {
  const j = new CookieJar(name);
  jars.push(j);
  return j;
}

async function signIn(opts) {
  const s = await stack.signIn({ jar: opts.jar ?? jar(opts.tenant), ...opts });
  if (s.assertion) assertions.push(s.assertion);
  return s;
}

function assertValidAssertion(s, { tenant, user }) {
  assert.ok(s.accepted, s.explain());
  const c = s.accepted.claims;
  const u = stack.op.users.find((x) => x.username === user);
  const origin = stack.worker.tenantOrigin(tenant);
  assert.equal(c.iss, origin, 'iss is the tenant origin');
  assert.equal(c.aud, stack.portal.url, 'aud is portal_url');
  assert.equal(c.tenant, tenant);
  assert.equal(c.sub, u.sub);
  assert.equal(c.email, u.email);
  assert.equal(c.email_verified, u.email_verified);
  assert.equal(c.name, u.name);
  assert.equal(c.given_name, u.given_name);
  assert.equal(c.family_name, u.family_name);
  assert.ok(c.exp - c.iat <= 120 && c.exp > c.iat, 'exp at most 120 s after iat');
  assert.ok(typeof c.jti === 'string' && c.jti.length >= 16, 'jti');
  assert.equal(c.provisioned, false, 'provisioning is off');
  assert.equal(s.accepted.header.alg, 'EdDSA');
  assert.equal(s.accepted.header.kid, JSON.parse(stack.worker.secrets.HANDOFF_SIGNING_KEY).kid);
  // Ed25519 is deterministic (RFC 8032): the worker's signature (WebCrypto's, or its Rust
  // fallback's) is exactly the one node makes over the same input with the same key.
  const [h, p, sig] = s.assertion.split('.');
  const key = crypto.createPrivateKey({ key: JSON.parse(stack.worker.secrets.HANDOFF_SIGNING_KEY), format: 'jwk' });
  assert.equal(sig, crypto.sign(null, Buffer.from(`${h}.${p}`), key).toString('base64url'), 'the RFC 8032 signature');
  assert.match(s.portalResponse.body, /Welcome, /);
}

describe('login page', () => {
  test('shows the escaped button label, the password link and the SPEC headers', async () => {
    const res = await request(`${acme.origin}/login`);
    assert.equal(res.status, 200);
    assertHtmlHeaders(res, { what: 'login page' });
    assert.ok(res.body.includes('Sign in with &lt;Acme&gt; &amp; '), 'label is HTML-escaped');
    assert.ok(!res.body.includes('<Acme>'), 'raw label markup is not in the page');
    const links = [...res.body.matchAll(/href\s*=\s*"([^"]*)"/gi)].map((m) => m[1].replace(/&amp;/g, '&'));
    assert.ok(links.some((h) => h === `${stack.portal.url}/login`), `a "use your password" link to {portal_url}/login: ${links}`);
    assert.ok(
      links.some((h) => new URL(h, acme.origin).pathname === '/login/sso') || parseForms(res.body, res.url).some((f) => new URL(f.action).pathname === '/login/sso'),
      'the button leads to /login/sso',
    );
    assert.match(res.body, /<meta[^>]+name="viewport"/i, 'responsive page');
    assert.doesNotMatch(res.body, /<(link|script|img)[^>]+(src|href)="https?:\/\//i, 'no external assets');
  });

  test('return_to is carried from /login to /login/sso', async () => {
    const res = await request(`${acme.origin}/login?return_to=${encodeURIComponent('/bookings?tab=1')}`);
    assert.equal(res.status, 200);
    const decoded = res.body.replace(/&amp;/g, '&');
    assert.ok(decoded.includes('return_to=%2Fbookings%3Ftab%3D1') || decoded.includes('value="/bookings?tab=1"'), 'the SSO link/form keeps return_to');
  });
});

describe('sign-in', () => {
  test('happy path with client_secret_basic: authorize request, token request and a verified assertion', async () => {
    const tokenBefore = stack.op.log.token.length;
    const j = jar('basic');
    const s = await signIn({ tenant: 'acme', user: 'alice', jar: j });
    assertValidAssertion(s, { tenant: 'acme', user: 'alice' });

    // /login/sso: 302 to the discovered authorize endpoint with every SPEC parameter.
    assert.equal(s.start.status, 302);
    const auth = new URL(s.start.location);
    assert.equal(`${auth.origin}${auth.pathname}`, `${stack.op.issuer}/auth`);
    const p = auth.searchParams;
    assert.equal(p.get('response_type'), 'code');
    assert.deepEqual(p.get('scope').split(' ').sort(), ['email', 'openid', 'profile']);
    assert.equal(p.get('client_id'), acme.clientId);
    assert.equal(p.get('redirect_uri'), `${acme.origin}${CALLBACK_PATH}`);
    assert.match(p.get('state'), b64u43, 'state: 32 random bytes, base64url');
    assert.match(p.get('nonce'), b64u43, 'nonce: 32 random bytes, base64url');
    assert.match(p.get('code_challenge'), b64u43, 'S256 challenge');
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.ok(!p.has('response_mode') || p.get('response_mode') === 'query', 'default (query) response mode');
    assert.ok(!p.has('code_verifier') && !p.has('client_secret'));

    // The browser-binding cookie (LOCAL_DEV attributes).
    const binding = s.start.setCookies.map((h) => j.cookies.find((c) => c.raw === h)).filter(Boolean);
    assert.ok(binding.length >= 1, `/login/sso sets the browser-binding cookie: ${s.start.setCookies}`);
    for (const c of binding) assertLocalDevCookie(c, `binding cookie ${c.name}`);
    assert.match(s.start.headers['cache-control'] ?? '', /no-store/);

    // Token request: Basic, RFC 6749 §2.3.1 form-encoded (the secret has + / = % : &).
    const tok = stack.op.log.token.slice(tokenBefore);
    assert.equal(tok.length, 1, 'one token request');
    assert.equal(tok[0].status, 200);
    assert.equal(tok[0].authMethod, 'client_secret_basic');
    assert.equal(tok[0].basic.id, acme.clientId);
    assert.equal(tok[0].basic.secret, acme.clientSecret);
    assert.equal(tok[0].bodyHasSecret, false);
    assert.equal(tok[0].hasCodeVerifier, true);
    assert.equal(tok[0].redirectUri, `${acme.origin}${CALLBACK_PATH}`);

    // The handoff page: auto-submitting form to portal_url + handoff_path, headers.
    assert.equal(s.handoff.action, `${stack.portal.url}/sso/assertion`);
    assertHtmlHeaders(s.final, { perMember: true, what: 'handoff page', referrer: 'strict-origin' });
    assert.ok(parseCsp(s.final.headers['content-security-policy']).get('script-src')?.some((v) => v.startsWith("'nonce-")), 'handoff script runs under a CSP nonce');
    assert.ok(!s.final.url.includes(s.assertion), 'the assertion never travels in a URL');

    // The session cookie.
    const session = s.callback.setCookies.map((h) => j.cookies.find((c) => c.raw === h)).filter(Boolean);
    assert.ok(session.length >= 1, 'the callback sets a session cookie');
    for (const c of session) assertLocalDevCookie(c, `session cookie ${c.name}`);
  });

  test('happy path with client_secret_post', async () => {
    const tokenBefore = stack.op.log.token.length;
    const s = await signIn({ tenant: 'beta', user: 'bob' });
    assertValidAssertion(s, { tenant: 'beta', user: 'bob' });
    const tok = stack.op.log.token.slice(tokenBefore);
    assert.equal(tok.length, 1);
    assert.equal(tok[0].authMethod, 'client_secret_post');
    assert.equal(tok[0].bodyClientId, beta.clientId);
    assert.equal(tok[0].bodyHasSecret, true);
    assert.equal(tok[0].basic, null);
  });

  test('idp and login_hint reach the provider', async () => {
    const before = stack.op.log.authorize.length;
    const s = await signIn({ tenant: 'acme', user: 'bob' });
    assert.ok(s.accepted, s.explain());
    const first = stack.op.log.authorize.slice(before).find((a) => a.params.client_id === acme.clientId);
    assert.equal(first.params.idp, '0oaidpacme00000001');
    assert.equal(first.params.login_hint, 'bob');
    const noIdp = stack.op.log.authorize.length;
    await signIn({ tenant: 'beta', user: 'alice', loginHint: null, jar: jar('nohint') }).catch(() => {});
    const b = stack.op.log.authorize.slice(noIdp).find((a) => a.params.client_id === beta.clientId);
    assert.ok(b, 'beta authorize request seen');
    assert.ok(!('idp' in b.params), 'no idp parameter when idp_id is null');
    assert.ok(!('login_hint' in b.params), 'no login_hint when none was given');
  });

  test('password_login_disabled: /login goes straight on to /login/sso (keeping return_to) and the provider', async () => {
    await stack.createTenant('gamma', { password_login_disabled: true });
    const j = jar('gamma');
    const res = await request(`${stack.worker.tenantOrigin('gamma')}/login?return_to=${encodeURIComponent('/dash?x=1')}`, { jar: j });
    assert.equal(res.status, 302);
    const loc = new URL(res.location);
    assert.equal(loc.origin, stack.worker.tenantOrigin('gamma'));
    assert.equal(loc.pathname, '/login/sso');
    assert.equal(loc.searchParams.get('return_to'), '/dash?x=1');
    const next = await request(res.location, { jar: j });
    assert.equal(next.status, 302);
    assert.ok(next.location.startsWith(`${stack.op.issuer}/auth?`), `on to the provider: ${next.location}`);
    // …and the whole walk still ends at the portal with return_to.
    const s = await signIn({ tenant: 'gamma', user: 'alice', returnTo: '/dash?x=1' });
    assert.ok(s.accepted, s.explain());
    assert.equal(s.accepted.claims.return_to, '/dash?x=1');
    // The normal tenant's page is not a redirect.
    assert.equal((await request(`${acme.origin}/login`)).status, 200);
  });

  test('return_to and portal_state are echoed in the assertion', async () => {
    const returnTo = '/members/bookings?tab=upcoming&next=%2Fhome&q=caf%C3%A9';
    const portalState = 'Ab9._~-xyz';
    const s = await signIn({ tenant: 'acme', user: 'alice', returnTo, portalState });
    assert.ok(s.accepted, s.explain());
    assert.equal(s.accepted.claims.return_to, returnTo);
    assert.equal(s.accepted.claims.portal_state, portalState);
    const plain = await signIn({ tenant: 'acme', user: 'alice' });
    assert.ok(!('return_to' in plain.accepted.claims), 'no return_to claim when none was given');
    assert.ok(!('portal_state' in plain.accepted.claims), 'no portal_state claim when none was given');
  });

  test('return_to open-redirect attempts are dropped, never followed', async () => {
    const vectors = [
      '//evil.example',
      '//evil.example/path',
      '/\\evil.example',
      '\\\\evil.example',
      'https://evil.example',
      'http:/evil.example',
      'javascript:alert(1)',
      '/go?next=https://evil.example',
      '/go?next=javascript%3Aalert(1)',
      '/%2Fevil.example',
      '/%2f%2fevil.example',
      '%2F%2Fevil.example',
      '/%5Cevil.example',
      '/%5cevil.example',
      '/ok\u0000',
      '/ok%00',
      '/ok%0d%0aSet-Cookie:%20x=1',
      '/ok\r\nx',
      '/ok\ttab',
      ' /leading-space',
      'relative/path',
      `/${'a'.repeat(2100)}`,
    ];
    for (const v of vectors) {
      const s = await signIn({ tenant: 'acme', user: 'alice', returnTo: v, jar: jar('rt') });
      assert.ok(s.accepted, `${JSON.stringify(v).slice(0, 40)}: sign-in still completes\n${s.explain()}`);
      assert.ok(!('return_to' in s.accepted.claims), `${JSON.stringify(v).slice(0, 40)} was kept as ${JSON.stringify(s.accepted.claims.return_to)}`);
      // Every hop of the walk, login and callback: some redirect, none off to evil.example.
      const hops = [...s.loginChain, ...s.callbackChain].filter((r) => r.location);
      assert.ok(hops.length >= 2, `${hops.length} redirects seen`);
      for (const r of hops) assert.ok(!/evil\.example/.test(new URL(r.location, r.url).host), `redirected to ${r.location}`);
      assert.ok(s.handoff.action.startsWith(stack.portal.url), `handoff to ${s.handoff.action}`);
    }
  });

  test('a sign-in started on a custom domain completes there; the assertion names the tenant origin', async () => {
    const host = 'members.epsilon-corp.test';
    const custom = `http://${host}:${stack.worker.port}`;
    await stack.createTenant('epsilon', { custom_domains: [host], extraRedirectUris: [`${custom}${CALLBACK_PATH}`] });
    const j = jar('epsilon');
    const s = await signIn({ tenant: 'epsilon', user: 'alice', origin: custom, jar: j });
    assert.equal(new URL(s.start.location).searchParams.get('redirect_uri'), `${custom}${CALLBACK_PATH}`, 'default redirect_uri: the origin that served /login/sso');
    assert.ok(s.callbackUrl.startsWith(`${custom}${CALLBACK_PATH}?`));
    assert.ok(s.accepted, s.explain());
    assert.equal(s.accepted.claims.iss, stack.worker.tenantOrigin('epsilon'));
    assert.equal(s.accepted.claims.tenant, 'epsilon');
    // Signing out there: Okta is sent back to the tenant origin's /login/logout (SPEC's default,
    // the address the Okta setup registers), not to the custom domain.
    const lo = await request(`${custom}/logout`, { jar: j });
    assert.equal(lo.status, 302);
    assert.equal(new URL(lo.location).searchParams.get('post_logout_redirect_uri'), `${stack.worker.tenantOrigin('epsilon')}/login/logout`);
  });

  test('enabled: false — no SSO button, /login/sso answers 404', async () => {
    await stack.createTenant('zeta', { enabled: false, sign_in_button_label: 'Zeta SSO button' });
    const page = await request(`${stack.worker.tenantOrigin('zeta')}/login`);
    assert.equal(page.status, 200);
    assert.ok(!pageText(page.body).includes('Zeta SSO button'), 'no SSO button');
    assert.ok(!/\/login\/sso/.test(page.body), 'no link to /login/sso');
    assert.match(page.body, /href="[^"]*\/login">Use your password/, 'the "use your password" link to {portal_url}/login');
    const sso = await request(`${stack.worker.tenantOrigin('zeta')}/login/sso`);
    assert.equal(sso.status, 404);
    assert.equal(sso.headers.location, undefined);
  });

  test('the worker JWKS publishes the handoff public key with Cache-Control public, max-age=300', async () => {
    const key = JSON.parse(stack.worker.secrets.HANDOFF_SIGNING_KEY);
    for (const origin of [acme.origin, stack.worker.apex]) {
      const r = await request(`${origin}/.well-known/jwks.json`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['cache-control'], 'public, max-age=300');
      const k = r.json().keys.find((x) => x.kid === key.kid);
      assert.ok(k, `kid ${key.kid} published at ${origin}`);
      assert.equal(k.kty, 'OKP');
      assert.equal(k.crv, 'Ed25519');
      assert.equal(k.x, key.x);
      assert.ok(!('d' in k), 'no private part');
      assert.ok(!r.body.includes(key.d));
    }
  });
});

describe('callback checks', () => {
  test('a replayed callback is refused (400, start again) and hands nothing off', async () => {
    const j = jar('replay');
    const s = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'alice', jar: j });
    assert.ok(s.callbackUrl, describeChain(s.chain));
    const first = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: s.callbackUrl });
    assert.ok(first.accepted, 'first use succeeds');
    const before = stack.portal.accepted.length;
    const tokenRequests = stack.op.log.token.length;
    const again = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: s.callbackUrl });
    assert.equal(again.final.status, 400, `replay → ${again.final.status}`);
    assert.equal(stack.op.log.token.length, tokenRequests, 'the used state is refused before any code exchange');
    assertNoHandoff(again, stack.portal, before);
    assertHtmlHeaders(again.final, { what: 'expired page' });
    assertSpecPhrase(again.final.body, 'expired');
    assert.match(again.final.body, /href="[^"]*\/login"/, 'links to /login');
  });

  test("a callback carrying another browser's cookies is refused", async () => {
    const victim = jar('victim');
    const attacker = jar('attacker');
    const v = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'alice', jar: victim });
    await startLogin({ worker: stack.worker, tenant: 'acme', user: 'bob', jar: attacker }); // the attacker has its own binding cookie
    const before = stack.portal.accepted.length;
    const r = await completeLogin({ portal: stack.portal, jar: attacker, callbackUrl: v.callbackUrl });
    assert.equal(r.final.status, 400, `foreign browser → ${r.final.status}`);
    assertNoHandoff(r, stack.portal, before);

    const w = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'alice', jar: jar('victim2') });
    const bare = await completeLogin({ portal: stack.portal, jar: new CookieJar('none'), callbackUrl: w.callbackUrl });
    assert.equal(bare.final.status, 400, `no cookie at all → ${bare.final.status}`);
    assertNoHandoff(bare, stack.portal, before);
  });

  test('two tabs signing in at once both succeed', async () => {
    // One browser (one jar, one provider session), three sign-ins started before any ends.
    const j = jar('tabs');
    const tab1 = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'alice', jar: j });
    const tab2 = await startLogin({ worker: stack.worker, tenant: 'beta', user: 'alice', jar: j });
    const tab3 = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'alice', jar: j });
    assert.equal(new Set([tab1, tab2, tab3].map((t) => new URL(t.callbackUrl).searchParams.get('state'))).size, 3);
    const r2 = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: tab2.callbackUrl });
    const r3 = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: tab3.callbackUrl });
    const r1 = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: tab1.callbackUrl });
    for (const [r, tenant] of [[r1, 'acme'], [r2, 'beta'], [r3, 'acme']]) {
      assert.ok(r.accepted, `tab for ${tenant}: ${r.final.status} ${pageText(r.final.body).slice(0, 200)}`);
      assert.equal(r.accepted.claims.tenant, tenant);
      assert.equal(r.accepted.claims.email, 'alice@example.com');
    }
    assert.notEqual(r1.accepted.claims.jti, r3.accepted.claims.jti);
  });

  test('missing or unknown state: 400 page with a link to /login', async () => {
    for (const q of ['code=abc', 'code=abc&state=unknownstate000000000000000000000000000000000', `code=abc&state=${'s'.repeat(129)}`]) {
      const mark = stack.worker.mark();
      const r = await request(`${acme.origin}${CALLBACK_PATH}?${q}`);
      assert.equal(r.status, 400, `${q} → ${r.status}`);
      assertHtmlHeaders(r, { what: q });
      assert.match(r.body, /href="[^"]*\/login"/);
      // The log line still names the tenant of the host, with no pending login to name it.
      const line = await stack.worker.waitForLog((l) => l.error === 'unknown_state', { since: mark });
      assert.equal(line.tenant, 'acme', JSON.stringify(line));
    }
    const apex = await request(`${stack.worker.apex}${CALLBACK_PATH}?code=abc&state=unknownstate000000000000000000000000000000000`);
    assert.equal(apex.status, 400, 'unknown state on the apex callback');
    assert.match(pageText(apex.body), /portal|start again/i);
  });

  test('a callback naming one of its parameters twice is refused before anything (RFC 6749 §3.1)', async () => {
    for (const [what, tamper] of [
      ['a second state', (u) => `${u}&state=${'x'.repeat(43)}`],
      ['an empty iss first', (u) => u.replace('?', '?iss=&')],
    ]) {
      const j = jar('repeated');
      const s = await startLogin({ worker: stack.worker, tenant: 'acme', user: 'alice', jar: j });
      const tokenRequests = stack.op.log.token.length;
      const mark = stack.worker.mark();
      const r = await request(tamper(s.callbackUrl), { jar: j });
      assert.equal(r.status, 400, `${what} → ${r.status}`);
      assertHtmlHeaders(r, { what });
      assert.equal(stack.op.log.token.length, tokenRequests, `${what}: no code exchange`);
      const line = await stack.worker.waitForLog((l) => l.error === 'repeated_parameter', { since: mark });
      assert.equal(line.status, 400);
      // The untouched callback still completes: nothing was consumed.
      const done = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: s.callbackUrl });
      assert.ok(done.accepted, `${what}: the honest callback after it`);
    }
  });

  test('access_denied shows the friendly page with error_description escaped', async () => {
    const before = stack.portal.accepted.length;
    const s = await signIn({ tenant: 'acme', user: 'mallory' });
    assert.ok(s.callbackUrl, 'the provider answered the callback with an error');
    assert.equal(new URL(s.callbackUrl).searchParams.get('error'), 'access_denied');
    assert.equal(s.final.status, 400);
    assertNoHandoff(s, stack.portal, before);
    assertHtmlHeaders(s.final, { what: 'access denied page' });
    const t = pageText(s.final.body);
    assertSpecPhrase(s.final.body, 'accessDenied');
    assert.ok(!s.final.body.includes('<script>alert(1)</script>'), 'error_description is not reflected raw');
    assert.ok(s.final.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'error_description is shown HTML-escaped');
    assert.ok(t.includes(DENY_DESCRIPTION.slice(0, 30)), 'the description text is visible');
  });

  test('an unverified email is refused with a 403 page', async () => {
    const before = stack.portal.accepted.length;
    const s = await signIn({ tenant: 'acme', user: 'carol' });
    assert.equal(s.final.status, 403, s.explain());
    assertNoHandoff(s, stack.portal, before);
    assertHtmlHeaders(s.final, { what: 'unverified page' });
    assert.match(pageText(s.final.body), /verif/i);
  });

  test('missing email/name in the ID token: the worker asks userinfo', async () => {
    const before = stack.op.log.userinfo.length;
    const s = await signIn({ tenant: 'acme', user: 'dave' });
    assertValidAssertion(s, { tenant: 'acme', user: 'dave' });
    const calls = stack.op.log.userinfo.slice(before);
    assert.equal(calls.length, 1, 'one userinfo call');
    assert.equal(calls[0].status, 200);
    assert.equal(calls[0].authorization, true);
  });

  test('redirect_uri on the apex, a form_post callback: the apex answers 307 so the browser re-posts to the start origin', async () => {
    const t = await stack.createTenant('delta-post', { redirect_uri: `${stack.worker.apex}${CALLBACK_PATH}` });
    const j = jar('delta-post');
    const s = await startLogin({ worker: stack.worker, tenant: 'delta-post', user: 'alice', jar: j });
    const body = new URL(s.callbackUrl).search.slice(1);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const hop = await request(`${stack.worker.apex}${CALLBACK_PATH}`, { method: 'POST', body, headers: form, jar: j });
    assert.equal(hop.status, 307, `apex POST → ${hop.status}`);
    assert.equal(hop.location, `${t.origin}${CALLBACK_PATH}`, 'no query: the browser re-posts the body');
    const done = await request(hop.location, { method: 'POST', body, headers: form, jar: j });
    assert.equal(done.status, 200, `re-posted callback → ${done.status} ${pageText(done.body).slice(0, 200)}`);
    assert.match(done.body, /name="assertion"/, 'the handoff form');
  });

  test('redirect_uri on the apex: the apex sends the callback on to the start origin', async () => {
    const t = await stack.createTenant('delta', { redirect_uri: `${stack.worker.apex}${CALLBACK_PATH}` });
    const j = jar('delta');
    const s = await startLogin({ worker: stack.worker, tenant: 'delta', user: 'alice', jar: j });
    assert.ok(s.callbackUrl.startsWith(`${stack.worker.apex}${CALLBACK_PATH}?`), `callback on the apex: ${s.callbackUrl}`);
    const hop = await request(s.callbackUrl, { jar: j });
    assert.equal(hop.status, 302);
    const loc = new URL(hop.location);
    assert.equal(loc.origin, t.origin);
    assert.equal(loc.pathname, CALLBACK_PATH);
    assert.deepEqual([...loc.searchParams], [...new URL(s.callbackUrl).searchParams], 'same parameters');
    const done = await completeLogin({ portal: stack.portal, jar: j, callbackUrl: s.callbackUrl });
    assert.ok(done.accepted, `${done.final.status} ${pageText(done.final.body).slice(0, 200)}`);
    assert.equal(done.accepted.claims.iss, t.origin);
  });
});

describe('logout', () => {
  test('a logout round trip through the provider lands on /login/logout and then the portal', async () => {
    const j = jar('logout');
    const s = await signIn({ tenant: 'acme', user: 'alice', jar: j });
    assert.ok(s.accepted, s.explain());
    const lo = await request(`${acme.origin}/logout`, { jar: j });
    assert.equal(lo.status, 302);
    const end = new URL(lo.location);
    assert.equal(`${end.origin}${end.pathname}`, `${stack.op.issuer}/session/end`);
    assert.ok(end.searchParams.get('id_token_hint'), 'id_token_hint');
    assert.equal(end.searchParams.get('post_logout_redirect_uri'), `${acme.origin}/login/logout`);
    assert.ok(end.searchParams.get('state'), 'state');

    const confirm = await request(lo.location, { jar: j });
    assert.equal(confirm.status, 200, 'the provider asks to confirm');
    const form = parseForms(confirm.body, confirm.url).find((f) => f.id === 'op.logoutForm');
    const back = await submitForm(form, { jar: j, extra: { logout: 'yes' } });
    assert.ok([302, 303].includes(back.status));
    const landing = new URL(back.location);
    assert.equal(`${landing.origin}${landing.pathname}`, `${acme.origin}/login/logout`);
    assert.equal(landing.searchParams.get('state'), end.searchParams.get('state'));
    const toPortal = await request(back.location, { jar: j });
    assert.equal(toPortal.status, 302);
    assert.equal(new URL(toPortal.location).href, new URL(stack.portal.url).href);

    // The session is gone: /logout again goes straight to /login/logout.
    const again = await request(`${acme.origin}/logout`, { jar: j });
    assert.equal(again.status, 302);
    assert.equal(new URL(again.location, acme.origin).pathname, '/login/logout');
    // An unknown state is a plain signed-out page, never a redirect.
    const plain = await request(`${acme.origin}/login/logout?state=forged`);
    assert.equal(plain.status, 200);
    assertHtmlHeaders(plain, { what: 'signed out page' });
    assertSpecPhrase(plain.body, 'signedOut');
  });

  test('/logout without a session goes straight to /login/logout', async () => {
    const r = await request(`${beta.origin}/logout`);
    assert.equal(r.status, 302);
    assert.equal(new URL(r.location, beta.origin).pathname, '/login/logout');
  });
});

describe('key rotation', () => {
  test('the provider rotates its signing key between two sign-ins; the second still succeeds', async () => {
    const first = await signIn({ tenant: 'acme', user: 'alice' });
    assert.ok(first.accepted, first.explain());
    const fetchesBefore = stack.op.log.jwks;
    assert.ok(fetchesBefore >= 1, 'the worker fetched the JWKS');
    // A worker may refetch on an unknown kid at most once per 30 s; let that window pass.
    const last = stack.op.log.jwksFetches.at(-1);
    await sleep(Math.max(0, last + 31_000 - Date.now()));
    const oldKid = stack.op.kids()[0];
    const newKid = await stack.op.rotateKeys({ keepOld: false });
    assert.notEqual(oldKid, newKid);
    const second = await signIn({ tenant: 'acme', user: 'bob' });
    assert.ok(second.accepted, second.explain());
    assert.ok(stack.op.log.jwks > fetchesBefore, 'the worker refetched the JWKS for the new kid');
  });
});

test('log lines: SPEC shape, failures carry an error code, no secret in the output', async () => {
  const cookieValues = jars.flatMap((j) => j.cookies.map((c) => c.value));
  assertNoSecrets(
    stack.worker.output(),
    [acme.clientSecret, beta.clientSecret, acme.webhookSecret, beta.webhookSecret, stack.worker.adminToken, ...stack.op.log.secrets, ...cookieValues, ...assertions],
    'wrangler output',
  );
  const lines = stack.worker.logLines();
  assert.ok(lines.length >= 3, 'the worker logs its requests');
  for (const l of lines) assertLogLine(l);
});
