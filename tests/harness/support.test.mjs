// Self-checks of the end-to-end support servers, with no worker: the real OP walks a code
// flow for a stand-in client, the bad OP mints the tokens it claims to, the fake portal
// verifies EdDSA assertions and Standard Webhooks signatures, the cookie jar behaves, and
// Chromium launches. Run: node --test tests/harness/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { SignJWT, createLocalJWKSet, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { Webhook } from 'standardwebhooks';
import { chromium } from 'playwright-core';
import { CookieJar, follow, listen, parseForms, parseSetCookie, request, submitForm } from '../support/http.mjs';
import { startOp, ACR, DENY_DESCRIPTION } from '../support/op.mjs';
import { startBadOp, ID_TOKEN_MUTATIONS } from '../support/bad-op.mjs';
import { startPortal } from '../support/portal.mjs';
import { generateSecrets, toDotenv } from '../support/worker.mjs';

const REDIRECT = 'http://acme.localhost:45555/authorization-code/callback';
const pkce = () => {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
};

describe('cookie jar and forms', () => {
  test('Set-Cookie parsing, host-only matching, deletion, __Host- rules', () => {
    const jar = new CookieJar();
    jar.store('http://acme.localhost:1/login/sso', ['b=1; HttpOnly; Path=/; SameSite=Lax', 'p=2; Path=/login', '__Host-x=3; Path=/']);
    assert.equal(jar.header('http://acme.localhost:2/authorization-code/callback'), 'b=1');
    assert.equal(jar.header('http://acme.localhost:2/login/x'), 'p=2; b=1');
    assert.equal(jar.header('http://beta.localhost:1/'), null, 'host-only');
    jar.store('http://acme.localhost:1/', ['b=; Max-Age=0; Path=/']);
    assert.equal(jar.header('http://acme.localhost:1/'), null);
    const c = parseSetCookie('s=v; Secure; HttpOnly; SameSite=None; Path=/');
    assert.deepEqual([c.secure, c.httpOnly, c.sameSite, c.path], [true, true, 'none', '/']);
  });

  test('parseForms decodes actions and hidden inputs', () => {
    const [f] = parseForms('<form method="post" action="/a?x=1&amp;y=2"><input type="hidden" name="assertion" value="a.b.c"><button>Go</button></form>', 'http://h:1/p');
    assert.equal(f.action, 'http://h:1/a?x=1&y=2');
    assert.equal(f.method, 'POST');
    assert.equal(f.fields.get('assertion'), 'a.b.c');
  });

  test('dev secrets have the SPEC formats', () => {
    const s = generateSecrets();
    assert.equal(Buffer.from(s.CONFIG_KEY, 'base64').length, 32);
    const k = JSON.parse(s.HANDOFF_SIGNING_KEY);
    assert.deepEqual(Object.keys(k).sort(), ['crv', 'd', 'kid', 'kty', 'x']);
    assert.match(toDotenv(s), /^HANDOFF_SIGNING_KEY='\{"kty":"OKP"/m);
  });
});

describe('real OpenID Provider (oidc-provider)', () => {
  let op;
  before(async () => {
    op = await startOp({ issuerPath: '/oauth2/default' });
  });
  after(() => op.close());

  async function codeFlow(clientId, user, extra = {}) {
    const jar = new CookieJar();
    const { verifier, challenge } = pkce();
    const q = new URLSearchParams({ response_type: 'code', scope: 'openid email profile', client_id: clientId, redirect_uri: REDIRECT, state: 'st', nonce: 'nn', code_challenge: challenge, code_challenge_method: 'S256', ...extra });
    if (user) q.set('login_hint', user);
    const start = await request(`${op.issuer}/auth?${q}`, { jar });
    const { response, next } = await follow(start, { jar, stopBefore: (n) => n.url.startsWith(REDIRECT) });
    return { jar, verifier, response, callback: next ? new URL(next.url) : null };
  }

  test('discovery and JWKS answer; the issuer carries the path', async () => {
    const d = (await request(`${op.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(d.issuer, op.issuer);
    assert.equal(d.token_endpoint, `${op.issuer}/token`);
    const keys = (await request(d.jwks_uri)).json().keys;
    assert.deepEqual(keys.map((k) => k.kid), op.kids());
    assert.ok(keys.every((k) => !k.d));
  });

  test('headless code flow for both client auth methods, with idp and login_hint logged', async () => {
    for (const method of ['client_secret_basic', 'client_secret_post']) {
      const id = `c-${method}`;
      const secret = `s+/=%:&${method}`;
      await op.addClient({ client_id: id, client_secret: secret, redirect_uris: [REDIRECT], token_endpoint_auth_method: method });
      const f = await codeFlow(id, 'alice', { idp: '0oaX' });
      assert.equal(f.callback.searchParams.get('state'), 'st');
      assert.equal(f.callback.searchParams.get('iss'), op.issuer, 'RFC 9207 iss');
      const body = new URLSearchParams({ grant_type: 'authorization_code', code: f.callback.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: f.verifier });
      const headers = {};
      const fe = (s) => new URLSearchParams({ a: s }).toString().slice(2);
      if (method === 'client_secret_basic') headers.authorization = `Basic ${Buffer.from(`${fe(id)}:${fe(secret)}`).toString('base64')}`;
      else {
        body.set('client_id', id);
        body.set('client_secret', secret);
      }
      const tok = await request(`${op.issuer}/token`, { method: 'POST', body, headers });
      assert.equal(tok.status, 200, tok.body);
      const claims = decodeJwt(tok.json().id_token);
      assert.deepEqual([claims.email, claims.name, claims.nonce, claims.iss], ['alice@example.com', 'Alice Anderson', 'nn', op.issuer]);
      assert.equal(op.log.token.at(-1).authMethod, method);
      assert.equal(op.log.authorize.at(-1).params.idp, '0oaX');
      assert.equal(op.log.authorize.at(-1).params.login_hint, 'alice');
    }
  });

  test('PKCE is required; the login form appears without login_hint; mallory is denied', async () => {
    await op.addClient({ client_id: 'c-pkce', client_secret: 'x', redirect_uris: [REDIRECT] });
    const noPkce = await request(`${op.issuer}/auth?${new URLSearchParams({ response_type: 'code', scope: 'openid', client_id: 'c-pkce', redirect_uri: REDIRECT, state: 's' })}`);
    assert.match(noPkce.location ?? '', /error=invalid_request/);
    const form = await codeFlow('c-pkce', null);
    assert.equal(form.callback, null);
    assert.equal(form.response.status, 200);
    const login = parseForms(form.response.body, form.response.url)[0];
    const done = await submitForm(login, { jar: form.jar, extra: { username: 'bob', password: 'demo' } });
    const { next } = await follow(done, { jar: form.jar, stopBefore: (n) => n.url.startsWith(REDIRECT) });
    assert.ok(new URL(next.url).searchParams.get('code'));
    const denied = await codeFlow('c-pkce', 'mallory');
    assert.equal(denied.callback.searchParams.get('error'), 'access_denied');
    assert.equal(denied.callback.searchParams.get('error_description'), DENY_DESCRIPTION);
  });

  async function idTokenFor(clientId, user, extra, scope) {
    const f = await codeFlow(clientId, user, { ...extra, ...(scope ? { scope } : {}) });
    assert.ok(f.callback?.searchParams.get('code'), `no code: ${f.callback ?? f.response.body.slice(0, 300)}`);
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: f.callback.searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: f.verifier });
    const tok = await request(`${op.issuer}/token`, { method: 'POST', body, headers: { authorization: `Basic ${Buffer.from(`${clientId}:x`).toString('base64')}` } });
    assert.equal(tok.status, 200, tok.body);
    const userinfo = (await request(`${op.issuer}/me`, { headers: { authorization: `Bearer ${tok.json().access_token}` } })).json();
    return { claims: decodeJwt(tok.json().id_token), userinfo };
  }

  test('step-up: acr from acr_values (weaker for a member without MFA), auth_time on max_age and prompt=login', async () => {
    await op.addClient({ client_id: 'c-step', client_secret: 'x', redirect_uris: [REDIRECT] });
    const d = (await request(`${op.issuer}/.well-known/openid-configuration`)).json();
    assert.deepEqual(d.acr_values_supported, [ACR.pwd, ACR.mfa]);
    assert.ok(d.scopes_supported.includes('groups'));
    const plain = (await idTokenFor('c-step', 'alice')).claims;
    for (const k of ['acr', 'amr', 'auth_time', 'groups']) assert.ok(!(k in plain), `no ${k} unless asked: ${JSON.stringify(plain)}`);
    const mfa = (await idTokenFor('c-step', 'mia', { acr_values: ACR.mfa })).claims;
    assert.deepEqual([mfa.acr, mfa.amr], [ACR.mfa, ['pwd', 'mfa']]);
    const weak = (await idTokenFor('c-step', 'alice', { acr_values: ACR.mfa })).claims;
    assert.deepEqual([weak.acr, weak.amr], [ACR.pwd, ['pwd']], 'a member without MFA gets the weaker acr');
    const t0 = Math.floor(Date.now() / 1000);
    for (const extra of [{ max_age: '300' }, { prompt: 'login' }]) {
      const c = (await idTokenFor('c-step', 'bob', extra)).claims;
      assert.ok(Math.abs(c.auth_time - t0) < 30, `${JSON.stringify(extra)}: auth_time ${c.auth_time}`);
    }
    assert.equal(op.log.authorize.at(-1).params.prompt, 'login');
  });

  test('groups: released with the groups scope, in the ID token or (hank) only at userinfo', async () => {
    await op.addClient({ client_id: 'c-groups', client_secret: 'x', redirect_uris: [REDIRECT] });
    const scope = 'openid email profile groups';
    const gwen = await idTokenFor('c-groups', 'gwen', {}, scope);
    assert.deepEqual([gwen.claims.groups, gwen.userinfo.groups], [['Members', 'Staff'], ['Members', 'Staff']]);
    const hank = await idTokenFor('c-groups', 'hank', {}, scope);
    assert.ok(!('groups' in hank.claims), 'not in the ID token');
    assert.deepEqual(hank.userinfo.groups, ['Members']);
    assert.equal(hank.claims.email, 'hank@example.com', 'the rest of the profile is in the ID token');
    const noScope = await idTokenFor('c-groups', 'gwen');
    assert.ok(!('groups' in noScope.claims) && !('groups' in noScope.userinfo), 'nothing without the scope');
  });

  test('key rotation publishes a new kid under the same issuer', async () => {
    const old = op.kids()[0];
    const kid = await op.rotateKeys();
    assert.notEqual(kid, old);
    const keys = (await request(`${op.issuer}/jwks`)).json().keys;
    assert.deepEqual(keys.map((k) => k.kid), [kid]);
  });
});

describe('misbehaving provider', () => {
  let bad;
  before(async () => {
    bad = await startBadOp();
  });
  after(() => bad.close());

  async function token(as) {
    const { verifier, challenge } = pkce();
    const a = await request(`${as.issuer}/v1/authorize?${new URLSearchParams({ client_id: 'c1', redirect_uri: REDIRECT, state: 'S', nonce: 'N', code_challenge: challenge })}`);
    const code = new URL(a.location).searchParams.get('code');
    const t = await request(`${as.issuer}/v1/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }), headers: { authorization: `Basic ${Buffer.from('c1:s').toString('base64')}` } });
    return { t, jwks: (await request(`${as.issuer}/v1/keys`)).json() };
  }

  test('every mutation produces the token it names', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expect = {
      'wrong-iss': (c) => c.iss.endsWith('/oauth2/not-m-wrong-iss'),
      'aud-other': (c) => c.aud === 'another-client',
      'multi-aud-no-azp': (c) => c.aud.length === 2 && !('azp' in c),
      'multi-aud-wrong-azp': (c) => c.azp === 'another-client',
      'multi-aud-azp-ok': (c) => c.azp === 'c1' && c.aud.includes('c1'),
      expired: (c) => c.exp < now - 500,
      'iat-missing': (c) => !('iat' in c),
      'iat-future': (c) => c.iat > now + 500,
      'nonce-wrong': (c) => c.nonce !== 'N',
      'nonce-missing': (c) => !('nonce' in c),
      'sub-missing': (c) => !('sub' in c),
      'alg-none': (c, h) => h.alg === 'none',
      'hs256-public-key-pem': (c, h) => h.alg === 'HS256',
      'hs256-public-jwk': (c, h) => h.alg === 'HS256',
      ps256: (c, h) => h.alg === 'PS256',
      'alg-keytype-mismatch': (c, h) => h.alg === 'RS256' && h.kid === 'bad-ec-1',
      'unknown-kid': (c, h) => h.kid === 'bad-rsa-rogue',
      'no-kid': (c, h) => !('kid' in h),
      'forged-signature': (c, h) => h.kid === 'bad-rsa-1',
      'exp-missing': (c) => !('exp' in c),
      'crit-header': (c, h) => h.crit?.[0] === 'urn:example:unknown',
      'nbf-future': (c) => c.nbf > now + 500,
      'exp-in-skew': (c) => c.exp < now && c.exp > now - 120,
      'iat-in-skew': (c) => c.iat > now && c.iat < now + 120,
      // JSON.parse keeps the last member: the real nonce; the text names it twice.
      'nonce-repeated': (c, h, raw) => c.nonce === 'N' && Buffer.from(raw.split('.')[1], 'base64url').toString().match(/"nonce":/g)?.length === 2,
    };
    for (const name of Object.keys(ID_TOKEN_MUTATIONS)) {
      const as = bad.server(`m-${name}`, { idToken: name, jwks: ['rsa1', 'ec1'] });
      const { t, jwks } = await token(as);
      const idt = t.json().id_token;
      if (name === 'two-segments') {
        assert.equal(idt.split('.').length, 2);
        continue;
      }
      if (name === 'bad-json') {
        assert.throws(() => decodeJwt(idt));
        continue;
      }
      const h = decodeProtectedHeader(idt);
      const c = decodeJwt(idt);
      assert.ok(expect[name](c, h, idt), `${name}: ${JSON.stringify(h)} ${JSON.stringify(c)}`);
      const verified = await jwtVerify(idt, createLocalJWKSet(jwks), { algorithms: ['RS256', 'ES256'] }).then(() => true, () => false);
      const shouldVerify = !['forged-signature', 'alg-none', 'hs256-public-key-pem', 'hs256-public-jwk', 'ps256', 'alg-keytype-mismatch', 'unknown-kid', 'expired',
        // jose checks these claims (no clock tolerance) or refuses the unknown crit itself.
        'crit-header', 'nbf-future', 'exp-in-skew'].includes(name);
      assert.equal(verified, shouldVerify, `${name}: signature verifies = ${verified}`);
    }
  });

  test('token endpoint modes, discovery modes, callback iss, userinfo sub', async () => {
    assert.equal((await token(bad.server('t5', { token: 'status-500' }))).t.status, 500);
    assert.equal((await token(bad.server('tr', { token: 'redirect' }))).t.location, `${bad.evil.origin}/token`);
    assert.ok(!('id_token' in (await token(bad.server('tn', { token: 'no-id-token' }))).t.json()));
    assert.equal((await token(bad.server('tg', { token: 'invalid_grant' }))).t.json().error, 'invalid_grant');
    const wi = (await request(`${bad.server('dw', { discovery: 'wrong-issuer' }).issuer}/.well-known/openid-configuration`)).json();
    assert.equal(wi.issuer, `${bad.origin}/oauth2/default`);
    const fe = (await request(`${bad.server('df', { discovery: 'foreign-token-endpoint' }).issuer}/.well-known/openid-configuration`)).json();
    assert.ok(fe.token_endpoint.startsWith(bad.evil.origin));
    const a = await request(`${bad.server('iw', { issOnCallback: 'wrong' }).issuer}/v1/authorize?redirect_uri=${encodeURIComponent(REDIRECT)}&state=s`);
    assert.ok(new URL(a.location).searchParams.get('iss').endsWith('/oauth2/not-iw'));
    const ui = bad.server('ui', { userinfo: 'different-sub' });
    const { t } = await token(ui);
    const u = (await request(`${ui.issuer}/v1/userinfo`, { headers: { authorization: `Bearer ${t.json().access_token}` } })).json();
    assert.notEqual(u.sub, decodeJwt(t.json().id_token).sub);
    assert.ok(ui.tokenRequests[0].pkceOk && ui.tokenRequests[0].codeKnown);
    // idTokenOmit removes any claim of the final token, the standard ones included.
    const om = decodeJwt((await token(bad.server('omit', { idTokenOmit: ['auth_time', 'email'] }))).t.json().id_token);
    assert.ok(!('auth_time' in om) && !('email' in om) && om.sub && om.nonce === 'N', JSON.stringify(om));
    assert.equal(bad.evil.hits.length, 0);
  });
});

describe('fake portal and webhook receiver', () => {
  let portal;
  let jwksSrv;
  let key;
  let iss;
  before(async () => {
    key = JSON.parse(generateSecrets().HANDOFF_SIGNING_KEY);
    jwksSrv = await listen((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: key.x, kid: key.kid }] }));
    });
    iss = `http://acme.localhost:${jwksSrv.port}`;
    portal = await startPortal();
    portal.expectTenant('acme', { iss, aud: portal.url });
  });
  after(async () => {
    await portal.close();
    await jwksSrv.close();
  });

  async function assertion(claims = {}, signingKey = key) {
    const k = await importJWK({ ...signingKey, alg: 'EdDSA' }, 'EdDSA');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: 'u1', email: 'ada@example.com', name: 'Ada', tenant: 'acme', jti: crypto.randomUUID(), iss, aud: portal.url, iat: now, exp: now + 120, channel: 'web', origin: iss, ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
      .sign(k);
  }
  const post = async (a, origin = iss) => request(`${portal.url}/sso/assertion`, { method: 'POST', body: new URLSearchParams({ assertion: a }), headers: { origin } });

  test('accepts a valid EdDSA assertion once, refuses wrong aud, iss, tenant, signature, lifetime, channel, Origin', async () => {
    const good = await assertion();
    const ok = await post(good);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /Welcome, Ada/);
    assert.equal(portal.accepted.length, 1);
    assert.equal((await post(good)).status, 401, 'jti replay');
    const other = JSON.parse(generateSecrets().HANDOFF_SIGNING_KEY);
    for (const bad of [
      await assertion({ aud: 'http://127.0.0.1:1' }),
      await assertion({ iss: 'http://beta.localhost:1' }),
      await assertion({ tenant: 'beta' }),
      await assertion({}, { ...other, kid: key.kid }),
      await assertion({ exp: Math.floor(Date.now() / 1000) + 600 }),
      await assertion({ channel: 'app' }),
      await assertion({ channel: undefined }),
      await assertion({ origin: 'http://evil.localhost:1' }),
    ]) {
      assert.equal((await post(bad)).status, 401);
    }
    // A replay from another page: the browser sends that page's Origin (or "null").
    for (const origin of ['http://evil.localhost:1', 'null', null]) {
      assert.equal((await post(await assertion(), origin)).status, 401, `Origin ${origin}`);
    }
    assert.equal(portal.accepted.length, 1);
    assert.equal(portal.refused.length, 12);
  });

  test('webhook: a Standard Webhooks signature verifies, a wrong one gets 401, the script answers in order', async () => {
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    portal.setWebhookSecrets('acme', [secret]);
    portal.webhook.script.push(500, 201);
    const body = JSON.stringify({ type: 'contact.provision', data: { tenant: 'acme', sub: 'u1' } });
    const send = (sig) => request(portal.webhookUrl, { method: 'POST', body, headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': sig } });
    const sig = new Webhook(secret).sign('msg_1', new Date(), body);
    assert.equal((await send(`v1,${Buffer.alloc(32).toString('base64')}`)).status, 401);
    assert.equal((await send(sig)).status, 500);
    const created = await send(`v1,bogus ${sig}`);
    assert.equal(created.status, 201);
    assert.deepEqual(created.json(), { created: true });
    assert.deepEqual(portal.webhook.deliveries.map((d) => [d.verified, d.answered]), [[false, 401], [true, 500], [true, 201]]);
    portal.webhook.mode = 'down';
    await assert.rejects(send(sig));
    portal.webhook.mode = 'up';
  });
});

test('playwright-core drives Debian Chromium', async () => {
  assert.ok(fs.existsSync('/usr/bin/chromium'), 'Chromium missing at /usr/bin/chromium');
  const srv = await listen((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<h1>Host ${req.headers.host}</h1>`);
  });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://acme.localhost:${srv.port}/`);
    assert.equal(await page.textContent('h1'), `Host acme.localhost:${srv.port}`, '*.localhost resolves to loopback in Chromium');
    assert.ok((await page.screenshot()).length > 1000);
  } finally {
    await browser.close();
    await srv.close();
  }
});
