// Issue 4 — the tenant admin API: every endpoint, 401s, 422 field errors, 400 bad ids,
// 409 taken domains, the once-only webhook secret and its rotation, secrets encrypted in
// raw KV, and the check endpoint (ok, issuer mismatch, unreachable, not JSON, foreign
// endpoint, no RS256 key).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, request, pageText } from '../support/http.mjs';
import { startStack, awkwardSecret } from '../support/stack.mjs';
import { startBadOp } from '../support/bad-op.mjs';
import { tenantConfig, putTenant, startWorker, generateSecrets } from '../support/worker.mjs';
import { assertNoSecrets } from '../support/assert.mjs';

let stack;
let bad;
let persist;
const restarted = []; // workers started on the same KV directory with rotated keys
const secretsSeen = [];
const WHSEC = /^whsec_[A-Za-z0-9+/]{43}=$/;
const PUBLIC_FIELDS = [
  'enabled', 'okta_domain', 'authorization_server_id', 'idp_id', 'client_id', 'token_endpoint_auth_method',
  'sign_in_button_label', 'provision_new_users', 'password_login_disabled', 'allow_unverified_email',
  'portal_url', 'handoff_path', 'provisioning_webhook_url', 'custom_domains', 'redirect_uri', 'post_logout_redirect_uri',
];

before(async () => {
  persist = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-admin-kv-'));
  stack = await startStack({ worker: { name: 'admin', persistTo: persist } });
  bad = await startBadOp();
});

after(async () => {
  await Promise.allSettled([stack?.stop(), bad?.close(), ...restarted.map((w) => w.stop())]);
  if (persist) fs.rmSync(persist, { recursive: true, force: true });
});

function baseConfig(overrides = {}) {
  const secret = overrides.client_secret ?? awkwardSecret();
  secretsSeen.push(secret);
  return tenantConfig({ op: stack.op, portal: stack.portal, clientId: `cid-${Math.random().toString(36).slice(2, 10)}`, clientSecret: secret, ...overrides });
}

function minimalConfig(overrides = {}) {
  const secret = awkwardSecret();
  secretsSeen.push(secret);
  return { okta_domain: stack.op.tenantFields().okta_domain, client_id: 'minimal-client', client_secret: secret, portal_url: stack.portal.url, ...overrides };
}

async function create(id, cfg = baseConfig()) {
  const r = await putTenant(stack.worker, id, cfg);
  assert.equal(r.status, 201, `PUT ${id} → ${r.status} ${r.body}`);
  if (r.webhookSecret) secretsSeen.push(r.webhookSecret);
  return { ...r, cfg };
}

const fieldMatches = (e, f) => e.field === f || e.field?.startsWith(`${f}.`) || e.field?.startsWith(`${f}[`);

async function expect422(id, cfg, fields, note = '') {
  const r = await stack.worker.admin('PUT', `/admin/tenants/${id}`, cfg);
  assert.equal(r.status, 422, `${note} → ${r.status} ${r.body}`);
  assert.match(r.headers['content-type'] ?? '', /application\/json/, `${note}: JSON error`);
  assert.ok(Array.isArray(r.json?.errors), `${note}: {"errors":[…]} (${r.body})`);
  for (const f of fields) {
    const e = r.json.errors.find((x) => fieldMatches(x, f));
    assert.ok(e, `${note}: no error for field ${f}: ${r.body}`);
    assert.equal(typeof e.message, 'string', `${note}: message for ${f}`);
    assert.ok(e.message.length > 0, `${note}: message for ${f} is empty`);
  }
  return r;
}

describe('authentication', () => {
  test('every admin route answers 401 without the right bearer token, with no detail', async () => {
    await create('auth-target');
    const routes = [
      ['GET', '/admin/tenants'],
      ['GET', '/admin/tenants/auth-target'],
      ['PUT', '/admin/tenants/auth-target'],
      ['DELETE', '/admin/tenants/auth-target'],
      ['POST', '/admin/tenants/auth-target/webhook-secret'],
      ['POST', '/admin/tenants/auth-target/check'],
    ];
    const t = stack.worker.adminToken;
    const badAuth = [
      { token: null },
      { token: '' },
      { token: 'wrong' },
      { token: `${t}x` },
      { token: t.slice(0, -1) },
      { token: null, headers: { authorization: `Basic ${Buffer.from(`admin:${t}`).toString('base64')}` } },
      { token: null, headers: { authorization: t } },
      { token: null, headers: { authorization: `bearer  ${t}x` } },
    ];
    for (const [method, path] of routes) {
      for (const opts of badAuth) {
        const r = await stack.worker.admin(method, path, method === 'PUT' ? baseConfig() : undefined, opts);
        assert.equal(r.status, 401, `${method} ${path} with ${JSON.stringify(opts).slice(0, 60)} → ${r.status}`);
        assert.ok(r.body.length < 200, `401 body has no detail: ${r.body}`);
        assert.ok(!r.body.includes(t), '401 body echoes the token');
      }
    }
    // Nothing changed through the refused calls.
    const g = await stack.worker.admin('GET', '/admin/tenants/auth-target');
    assert.equal(g.status, 200);
  });

  test('the admin API exists only on the apex host', async () => {
    await create('apexonly');
    for (const host of [stack.worker.tenantOrigin('apexonly'), `http://elsewhere.example.test:${stack.worker.port}`]) {
      const r = await request(`${host}/admin/tenants`, { headers: { authorization: `Bearer ${stack.worker.adminToken}` } });
      assert.equal(r.status, 404, `${host}/admin/tenants → ${r.status}`);
    }
  });
});

describe('create, read, replace, delete', () => {
  test('PUT creates (201): public config plus a once-only whsec_ webhook secret', async () => {
    const cfg = baseConfig({ idp_id: '0oa1idp', sign_in_button_label: 'Sign in with Acme SSO' });
    const r = await create('crud-a', cfg);
    assert.match(r.webhookSecret ?? '', WHSEC, `webhook_secret format: ${r.body}`);
    assert.equal(Buffer.from(r.webhookSecret.slice(6), 'base64').length, 32, 'webhook secret is 32 random bytes');
    assert.ok(!('client_secret' in r.json), 'the client secret is never returned');
    assert.ok(!r.body.includes(cfg.client_secret), 'the client secret value is never returned');
    for (const f of PUBLIC_FIELDS) assert.deepEqual(r.json[f], cfg[f], `PUT response field ${f}`);
    assert.equal(r.json.client_secret_set, true);

    const g = await stack.worker.admin('GET', '/admin/tenants/crud-a');
    assert.equal(g.status, 200);
    assert.match(g.headers['content-type'] ?? '', /application\/json/);
    for (const f of PUBLIC_FIELDS) assert.deepEqual(g.json[f], cfg[f], `GET field ${f}`);
    assert.equal(g.json.client_secret_set, true);
    assert.equal(g.json.webhook_secret_set, true);
    assert.ok(!('client_secret' in g.json) && !('webhook_secret' in g.json), `GET shows no secret: ${g.body}`);
    assert.ok(!g.body.includes(r.webhookSecret) && !g.body.includes(cfg.client_secret));
  });

  test('a minimal PUT gets SPEC defaults', async () => {
    const r = await create('crud-min', minimalConfig());
    const g = await stack.worker.admin('GET', '/admin/tenants/crud-min');
    assert.equal(g.status, 200, g.body);
    const want = {
      enabled: true,
      authorization_server_id: null,
      idp_id: null,
      token_endpoint_auth_method: 'client_secret_basic',
      sign_in_button_label: 'Sign in with Corporate Account',
      provision_new_users: false,
      password_login_disabled: false,
      allow_unverified_email: false,
      handoff_path: '/sso/assertion',
      provisioning_webhook_url: null,
      redirect_uri: null,
      post_logout_redirect_uri: null,
    };
    for (const [k, v] of Object.entries(want)) assert.deepEqual(g.json[k], v, `default ${k}`);
    assert.ok(g.json.custom_domains === undefined || g.json.custom_domains === null || (Array.isArray(g.json.custom_domains) && g.json.custom_domains.length === 0), 'custom_domains default empty');
    assert.match(r.webhookSecret ?? '', WHSEC);
  });

  test('PUT replaces (200) without a new webhook secret; the GET→edit→PUT round trip works', async () => {
    const first = await create('crud-b');
    const g = await stack.worker.admin('GET', '/admin/tenants/crud-b');
    const edited = { ...g.json, sign_in_button_label: 'Edited label' };
    const r = await stack.worker.admin('PUT', '/admin/tenants/crud-b', edited);
    assert.equal(r.status, 200, `replace → ${r.status} ${r.body}`);
    assert.ok(!('webhook_secret' in (r.json ?? {})), 'a replace does not return a webhook secret');
    const g2 = await stack.worker.admin('GET', '/admin/tenants/crud-b');
    assert.equal(g2.json.sign_in_button_label, 'Edited label');
    assert.equal(g2.json.client_secret_set, true, 'a PUT without client_secret keeps the stored one');
    assert.equal(g2.json.webhook_secret_set, true);
    assert.ok(!g2.body.includes(first.webhookSecret));
    // GET's own `id` goes back unchanged in that round trip; another id is refused, not ignored.
    assert.equal(g.json.id, 'crud-b');
    const moved = await stack.worker.admin('PUT', '/admin/tenants/crud-b', { ...edited, id: 'crud-c' });
    assert.equal(moved.status, 422, `PUT with another id → ${moved.status} ${moved.body}`);
    assert.ok(moved.json.errors.some((e) => e.field === 'id'), moved.body);
  });

  test('a wrong method gets a JSON 405 with Allow', async () => {
    for (const [method, pathname, allow] of [
      ['POST', '/admin/tenants', 'GET'],
      ['PATCH', '/admin/tenants/crud-b', 'GET, PUT, DELETE'],
      ['GET', '/admin/tenants/crud-b/check', 'POST'],
      ['DELETE', '/admin/tenants/crud-b/webhook-secret', 'POST'],
    ]) {
      const r = await stack.worker.admin(method, pathname);
      assert.equal(r.status, 405, `${method} ${pathname} → ${r.status}`);
      assert.equal(r.headers.allow, allow, `${method} ${pathname}: Allow`);
      assert.equal(r.json?.error, 'method_not_allowed', r.body);
    }
  });

  test('a replace is visible at once on the login page', async () => {
    await create('crud-live', baseConfig({ sign_in_button_label: 'Before edit' }));
    const before = await request(`${stack.worker.tenantOrigin('crud-live')}/login`);
    assert.equal(before.status, 200);
    assert.match(pageText(before.body), /Before edit/);
    const g = await stack.worker.admin('GET', '/admin/tenants/crud-live');
    const r = await stack.worker.admin('PUT', '/admin/tenants/crud-live', { ...g.json, sign_in_button_label: 'After edit' });
    assert.equal(r.status, 200, r.body);
    const afterRes = await request(`${stack.worker.tenantOrigin('crud-live')}/login`);
    assert.match(pageText(afterRes.body), /After edit/);
    assert.doesNotMatch(pageText(afterRes.body), /Before edit/);
  });

  test('GET /admin/tenants lists configs without secret values', async () => {
    await create('list-a');
    await create('list-b');
    const r = await stack.worker.admin('GET', '/admin/tenants');
    assert.equal(r.status, 200, r.body);
    assert.ok(Array.isArray(r.json?.tenants), `{"tenants":[…]}: ${r.body.slice(0, 200)}`);
    const clientIds = r.json.tenants.map((t) => t.client_id);
    for (const id of ['list-a', 'list-b']) {
      const g = await stack.worker.admin('GET', `/admin/tenants/${id}`);
      assert.ok(clientIds.includes(g.json.client_id), `${id} is listed`);
    }
    for (const t of r.json.tenants) {
      assert.ok(!('client_secret' in t) && !('webhook_secret' in t), 'no secret in the list');
      assert.equal(t.client_secret_set, true);
    }
    assertNoSecrets(r.body, secretsSeen, 'tenant list');
  });

  test('GET of an absent tenant is 404; DELETE is 204 and removes it', async () => {
    const missing = await stack.worker.admin('GET', '/admin/tenants/never-created');
    assert.equal(missing.status, 404);
    await create('crud-del');
    const d = await stack.worker.admin('DELETE', '/admin/tenants/crud-del');
    assert.equal(d.status, 204);
    assert.equal(d.body, '');
    const g = await stack.worker.admin('GET', '/admin/tenants/crud-del');
    assert.equal(g.status, 404);
    const login = await request(`${stack.worker.tenantOrigin('crud-del')}/login`);
    assert.equal(login.status, 404, 'a deleted tenant has no login page');
    assert.equal(await stack.worker.kvGet('tenant:crud-del'), null, 'tenant:{id} removed from KV');
  });

  test('a PUT without client_secret keeps the stored one (a sign-in still works)', async () => {
    const t = await stack.createTenant('keep-secret');
    const g = await stack.worker.admin('GET', '/admin/tenants/keep-secret');
    const r = await stack.worker.admin('PUT', '/admin/tenants/keep-secret', { ...g.json, sign_in_button_label: 'Kept' });
    assert.equal(r.status, 200, r.body);
    const s = await stack.signIn({ tenant: 'keep-secret', user: 'alice' });
    assert.ok(s.accepted, s.explain());
    const tok = stack.op.log.token.at(-1);
    assert.equal(tok.status, 200);
    assert.equal(tok.basic?.secret, t.clientSecret);
  });
});

describe('validation', () => {
  test('invalid configs get 422 with one error per bad field, and nothing is stored', async () => {
    const long = `${'a'.repeat(63)}.`.repeat(4) + 'okta.com';
    const cases = [
      [{ okta_domain: 'https://acme.okta.com' }, ['okta_domain']],
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
      [{ client_secret: undefined }, ['client_secret']],
      [{ client_secret: '' }, ['client_secret']],
      [{ token_endpoint_auth_method: 'private_key_jwt' }, ['token_endpoint_auth_method']],
      [{ sign_in_button_label: '' }, ['sign_in_button_label']],
      [{ sign_in_button_label: 'x'.repeat(65) }, ['sign_in_button_label']],
      [{ portal_url: 'ftp://127.0.0.1/portal' }, ['portal_url']],
      [{ portal_url: 'not a url' }, ['portal_url']],
      [{ portal_url: 'http://portal.example.com' }, ['portal_url']],
      [{ portal_url: undefined }, ['portal_url']],
      [{ portal_url: 'https://portal;x.example.com' }, ['portal_url']],
      [{ portal_url: 'https://portal.example.com.' }, ['portal_url']],
      [{ handoff_path: 'no-leading-slash' }, ['handoff_path']],
      [{ provision_new_users: true, provisioning_webhook_url: null }, ['provisioning_webhook_url']],
      [{ provisioning_webhook_url: 'http://hooks.example.com/x' }, ['provisioning_webhook_url']],
      [{ redirect_uri: 'javascript:alert(1)' }, ['redirect_uri']],
      [{ post_logout_redirect_uri: 'http://evil.example.com/logout' }, ['post_logout_redirect_uri']],
      [{ enabled: 'yes' }, ['enabled']],
      [{ custom_domains: 'portal.example.com' }, ['custom_domains']],
      [{ custom_domains: ['bad domain.example'] }, ['custom_domains']],
      [{ custom_domains: ['localhost'] }, ['custom_domains']],
      [{ custom_domains: ['other.localhost'] }, ['custom_domains']],
      [{ surprise: 1 }, ['surprise']],
      [{ okta_domain: 'https://acme.okta.com', client_id: '', sign_in_button_label: '' }, ['okta_domain', 'client_id', 'sign_in_button_label']],
      // A create without client_secret names it among the other bad fields, not alone later.
      [{ okta_domain: 'https://acme.okta.com', client_secret: undefined }, ['okta_domain', 'client_secret']],
      [{ id: 'someone-else' }, ['id']],
    ];
    let i = 0;
    for (const [overrides, fields] of cases) {
      i += 1;
      const id = `bad-${i}`;
      const cfg = baseConfig();
      for (const [k, v] of Object.entries(overrides)) {
        if (v === undefined) delete cfg[k];
        else cfg[k] = v;
      }
      const r = await expect422(id, cfg, fields, `${JSON.stringify(overrides).slice(0, 80)}`);
      if (fields.length > 1) assert.ok(r.json.errors.length >= fields.length, 'one entry per bad field');
      const g = await stack.worker.admin('GET', `/admin/tenants/${id}`);
      assert.equal(g.status, 404, `${JSON.stringify(overrides)}: nothing stored after a 422`);
    }
  });

  test('the scheme mistake is explained: enter the domain without https://', async () => {
    const r = await expect422('scheme-msg', baseConfig({ okta_domain: 'https://acme.okta.com' }), ['okta_domain']);
    const e = r.json.errors.find((x) => fieldMatches(x, 'okta_domain'));
    assert.match(e.message, /without https:\/\//i);
  });

  test('an international host written in Unicode is refused, asking for its xn-- form', async () => {
    // The wasm carries no Unicode tables (Cargo.toml pins idna_adapter 1.0): nothing converts.
    const r = await expect422('idn-msg', baseConfig({ portal_url: 'https://bücher.example' }), ['portal_url']);
    const e = r.json.errors.find((x) => fieldMatches(x, 'portal_url'));
    assert.match(e.message, /ASCII \(use the xn-- form/);
    const ok = await create('idn-ok', baseConfig({ portal_url: 'https://xn--bcher-kva.example' }));
    assert.equal(ok.json.portal_url, 'https://xn--bcher-kva.example');
  });

  test('an invalid replace leaves the stored config as it was', async () => {
    await create('keep-on-422', baseConfig({ sign_in_button_label: 'Original' }));
    const g = await stack.worker.admin('GET', '/admin/tenants/keep-on-422');
    await expect422('keep-on-422', { ...g.json, sign_in_button_label: 'Changed', okta_domain: 'https://x.okta.com' }, ['okta_domain']);
    const g2 = await stack.worker.admin('GET', '/admin/tenants/keep-on-422');
    assert.equal(g2.json.sign_in_button_label, 'Original');
    assert.equal(g2.json.okta_domain, g.json.okta_domain);
  });

  test('non-JSON and non-object bodies get a JSON 4xx error and store nothing', async () => {
    for (const body of ['not json', '[1,2]', '"str"', 'null', '']) {
      const r = await stack.worker.admin('PUT', '/admin/tenants/nonjson', body, { headers: { 'content-type': 'application/json' } });
      assert.ok([400, 422].includes(r.status), `${JSON.stringify(body)} → ${r.status}`);
      assert.match(r.headers['content-type'] ?? '', /application\/json/, `${JSON.stringify(body)}: JSON error`);
      assert.ok(r.json, `${JSON.stringify(body)}: body is JSON: ${r.body}`);
    }
    assert.equal((await stack.worker.admin('GET', '/admin/tenants/nonjson')).status, 404);
  });

  test('an invalid tenant id gets 400', async () => {
    for (const id of ['Acme', '-acme', 'a_b', 'a.b', 'a'.repeat(64), 'acme%20x', '%C3%BCmlaut']) {
      const r = await stack.worker.admin('PUT', `/admin/tenants/${id}`, baseConfig());
      assert.equal(r.status, 400, `PUT id ${id} → ${r.status}`);
      const g = await stack.worker.admin('GET', `/admin/tenants/${id}`);
      assert.equal(g.status, 400, `GET id ${id} → ${g.status}`);
    }
    const okLong = await stack.worker.admin('PUT', `/admin/tenants/${'a'.repeat(63)}`, baseConfig());
    assert.equal(okLong.status, 201, 'a 63-character id is valid');
  });

  test('a body over 64 KiB gets 413 and stores nothing', async () => {
    const r = await stack.worker.admin('PUT', '/admin/tenants/huge', baseConfig({ sign_in_button_label: 'x', idp_id: 'i'.repeat(70 * 1024) }));
    assert.equal(r.status, 413);
    assert.equal((await stack.worker.admin('GET', '/admin/tenants/huge')).status, 404);
    // Routes that never read a body refuse one over 64 KiB too, before doing anything.
    await create('huge-post');
    const padding = 'p'.repeat(70 * 1024);
    for (const route of ['check', 'webhook-secret']) {
      const p = await stack.worker.admin('POST', `/admin/tenants/huge-post/${route}`, { padding });
      assert.equal(p.status, 413, `POST ${route} with 70 KiB → ${p.status}`);
    }
    const d = await stack.worker.admin('DELETE', '/admin/tenants/huge-post', { padding });
    assert.equal(d.status, 413, `DELETE with 70 KiB → ${d.status}`);
    // Without a declared length (chunked), a body is refused as PUT refuses it: 411.
    const chunked = { 'transfer-encoding': 'chunked' };
    const dc = await stack.worker.admin('DELETE', '/admin/tenants/huge-post', { padding }, { headers: chunked });
    assert.equal(dc.status, 411, `chunked DELETE → ${dc.status}`);
    const wc = await stack.worker.admin('POST', '/admin/tenants/huge-post/webhook-secret', { padding }, { headers: chunked });
    assert.equal(wc.status, 411, `chunked webhook-secret → ${wc.status}`);
    assert.equal((await stack.worker.admin('GET', '/admin/tenants/huge-post')).status, 200, 'still there');
  });
});

describe('custom domains', () => {
  test('a custom domain serves its tenant; another tenant claiming it gets 409; delete frees it', async () => {
    const host = 'sso.acme-corp.test';
    await create('dom-a', baseConfig({ custom_domains: [host], sign_in_button_label: 'Dom A button' }));
    const page = await request(`http://${host}:${stack.worker.port}/login`);
    assert.equal(page.status, 200);
    assert.match(pageText(page.body), /Dom A button/);
    assert.notEqual(await stack.worker.kvGet(`domain:${host}`), null, 'domain:{host} mapping in KV');

    const taken = await stack.worker.admin('PUT', '/admin/tenants/dom-b', baseConfig({ custom_domains: [host] }));
    assert.equal(taken.status, 409, `taken domain → ${taken.status} ${taken.body}`);
    assert.equal((await stack.worker.admin('GET', '/admin/tenants/dom-b')).status, 404, 'nothing stored on 409');

    // Replacing dom-a without the domain releases the mapping.
    const g = await stack.worker.admin('GET', '/admin/tenants/dom-a');
    const r = await stack.worker.admin('PUT', '/admin/tenants/dom-a', { ...g.json, custom_domains: ['sso2.acme-corp.test'] });
    assert.equal(r.status, 200, r.body);
    assert.equal((await request(`http://${host}:${stack.worker.port}/login`)).status, 404, 'old domain unmapped on replace');
    assert.equal((await request(`http://sso2.acme-corp.test:${stack.worker.port}/login`)).status, 200, 'new domain mapped');

    const d = await stack.worker.admin('DELETE', '/admin/tenants/dom-a');
    assert.equal(d.status, 204);
    assert.equal((await request(`http://sso2.acme-corp.test:${stack.worker.port}/login`)).status, 404, 'domain unmapped on delete');
    assert.equal(await stack.worker.kvGet('domain:sso2.acme-corp.test'), null);
    await create('dom-b', baseConfig({ custom_domains: ['sso2.acme-corp.test'] }));
  });
});

describe('secrets', () => {
  test('webhook secret rotation returns a new secret once; GET never shows it', async () => {
    const c = await create('rot-a');
    const r = await stack.worker.admin('POST', '/admin/tenants/rot-a/webhook-secret');
    assert.equal(r.status, 200, r.body);
    assert.match(r.json?.webhook_secret ?? '', WHSEC);
    secretsSeen.push(r.json.webhook_secret);
    assert.notEqual(r.json.webhook_secret, c.webhookSecret);
    const g = await stack.worker.admin('GET', '/admin/tenants/rot-a');
    assert.ok(!g.body.includes(r.json.webhook_secret) && !g.body.includes(c.webhookSecret));
    const missing = await stack.worker.admin('POST', '/admin/tenants/absent-tenant/webhook-secret');
    assert.equal(missing.status, 404);
  });

  test('raw KV holds neither the client secret nor the webhook secret', async () => {
    const cfg = baseConfig();
    const c = await create('kv-raw', cfg);
    const rotated = await stack.worker.admin('POST', '/admin/tenants/kv-raw/webhook-secret');
    const raw = await stack.worker.kvGet('tenant:kv-raw');
    assert.ok(raw, 'tenant:kv-raw exists in KV');
    const forms = (s) => [s, s.replace(/^whsec_/, ''), JSON.stringify(s).slice(1, -1), Buffer.from(s).toString('base64'), encodeURIComponent(s)];
    for (const s of [cfg.client_secret, c.webhookSecret, rotated.json.webhook_secret]) {
      for (const f of forms(s)) assert.ok(!raw.includes(f), `raw KV value contains a secret (${f.slice(0, 10)}…)`);
    }
    assert.ok(raw.includes(cfg.client_id), 'the raw record is the tenant record (client_id in clear)');
    // Every other key of this tenant too.
    for (const key of (await stack.worker.kvList()).filter((k) => k.includes('kv-raw'))) {
      const v = (await stack.worker.kvGet(key)) ?? '';
      assert.ok(!v.includes(cfg.client_secret) && !v.includes(c.webhookSecret.slice(6)), `KV key ${key} holds a secret`);
    }
  });
});

describe('check endpoint', () => {
  test('ok: issuer, endpoints and keys of the real OpenID Provider', async () => {
    await create('chk-ok');
    const r = await stack.worker.admin('POST', '/admin/tenants/chk-ok/check');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.ok, true, r.body);
    assert.equal(r.json.issuer, stack.op.issuer);
    const eps = JSON.stringify(r.json.endpoints);
    for (const path of ['/auth', '/token', '/jwks', '/me']) assert.ok(eps.includes(`${stack.op.issuer}${path}`), `endpoints name ${path}: ${eps}`);
    assert.ok(Array.isArray(r.json.keys) && r.json.keys.length >= 1);
    assert.deepEqual(r.json.keys.map((k) => k.kid), stack.op.kids());
    assert.ok(r.json.keys.every((k) => k.alg === 'RS256'), JSON.stringify(r.json.keys));
    assert.equal((await stack.worker.admin('POST', '/admin/tenants/not-there/check')).status, 404);
  });

  test('issuer mismatch names both values', async () => {
    const as = bad.server('chk-mismatch', { discovery: 'wrong-issuer' });
    await create('chk-mismatch', tenantConfig({ op: as, portal: stack.portal, clientId: 'c', clientSecret: awkwardSecret() }));
    const r = await stack.worker.admin('POST', '/admin/tenants/chk-mismatch/check');
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.ok, false);
    assert.ok(r.json.problem.includes(as.issuer), `problem names the expected issuer: ${r.json.problem}`);
    assert.ok(r.json.problem.includes(`${bad.origin}/oauth2/default`), `problem names the issuer found: ${r.json.problem}`);
  });

  test('unreachable, not JSON, foreign endpoint, no RS256 key', async () => {
    const closed = await freePort();
    const cases = [
      ['chk-unreach', { okta_domain: `127.0.0.1:${closed}`, authorization_server_id: null }, /unreachable|connect|refused|could not reach|fetch/i],
      ['chk-notjson', bad.server('chk-notjson', { discovery: 'not-json' }).tenantFields(), /json/i],
      ['chk-foreign', bad.server('chk-foreign', { discovery: 'foreign-token-endpoint' }).tenantFields(), /token_endpoint|another host|host/i],
      ['chk-nors', bad.server('chk-nors', { jwks: ['ec1'] }).tenantFields(), /RS256/],
    ];
    for (const [id, fields, re] of cases) {
      await create(id, baseConfig(fields));
      const r = await stack.worker.admin('POST', `/admin/tenants/${id}/check`);
      assert.equal(r.status, 200, `${id}: ${r.body}`);
      assert.equal(r.json.ok, false, `${id}: ${r.body}`);
      assert.match(r.json.problem ?? '', re, `${id}: ${r.json.problem}`);
    }
    assert.equal(bad.evil.hits.length, 0, 'nothing was sent to the foreign host');
  });
});

describe('key rotation (CONFIG_KEY_PREVIOUS, HANDOFF_SIGNING_KEY_PREVIOUS)', () => {
  test('after a restart with rotated keys the stored secrets still open; a rewrite re-seals them under the new key', { timeout: 240_000 }, async () => {
    const t = await stack.createTenant('keyrot');
    secretsSeen.push(t.clientSecret, t.webhookSecret);
    const first = await stack.signIn({ tenant: 'keyrot', user: 'alice' });
    assert.ok(first.accepted, first.explain());

    // The same KV data, served by workers with rotated keys (the OP learns the new port).
    const old = stack.worker.secrets;
    await stack.worker.stop();
    const fresh = generateSecrets();
    const oldKid = JSON.parse(old.HANDOFF_SIGNING_KEY).kid;
    const newKid = JSON.parse(fresh.HANDOFF_SIGNING_KEY).kid;
    async function serveFrom(worker) {
      restarted.push(worker);
      const origin = worker.tenantOrigin('keyrot');
      await stack.op.addClient({
        client_id: t.clientId,
        client_secret: t.clientSecret,
        redirect_uris: [`${origin}/authorization-code/callback`],
        post_logout_redirect_uris: [`${origin}/login/logout`],
      });
      stack.portal.expectTenant('keyrot', { iss: origin, aud: stack.portal.url });
      return worker;
    }

    const rotated = await serveFrom(
      await startWorker({
        name: 'admin-rotated',
        persistTo: persist,
        secrets: {
          ADMIN_TOKEN: old.ADMIN_TOKEN,
          CONFIG_KEY: fresh.CONFIG_KEY,
          CONFIG_KEY_PREVIOUS: old.CONFIG_KEY,
          HANDOFF_SIGNING_KEY: fresh.HANDOFF_SIGNING_KEY,
          HANDOFF_SIGNING_KEY_PREVIOUS: old.HANDOFF_SIGNING_KEY,
        },
      }),
    );
    const jwks = (await request(`${rotated.apex}/.well-known/jwks.json`)).json();
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort(), 'both handoff keys published');
    assert.ok(jwks.keys.every((k) => !('d' in k)));
    const second = await stack.signIn({ worker: rotated, tenant: 'keyrot', user: 'bob' });
    assert.ok(second.accepted, `the client secret sealed under the previous CONFIG_KEY still opens\n${second.explain()}`);
    assert.equal(second.accepted.header.kid, newKid, 'assertions are signed with the new handoff key');
    // Reads never write (SPEC: a write made from a possibly stale read would undo an admin's
    // change): GET and the list leave the record as stored; only an admin write re-seals it.
    const sealedBefore = await rotated.kvGet('tenant:keyrot');
    const g = await rotated.admin('GET', '/admin/tenants/keyrot');
    assert.equal(g.status, 200, g.body);
    assert.equal((await rotated.admin('GET', '/admin/tenants')).status, 200);
    assert.equal(await rotated.kvGet('tenant:keyrot'), sealedBefore, 'GET and the list wrote nothing');
    const rewrite = await rotated.admin('PUT', '/admin/tenants/keyrot', g.json);
    assert.equal(rewrite.status, 200, rewrite.body);
    assert.notEqual(await rotated.kvGet('tenant:keyrot'), sealedBefore, 'the PUT re-sealed the record');
    await rotated.stop();

    const only = await serveFrom(
      await startWorker({
        name: 'admin-new-key-only',
        persistTo: persist,
        secrets: { ADMIN_TOKEN: old.ADMIN_TOKEN, CONFIG_KEY: fresh.CONFIG_KEY, HANDOFF_SIGNING_KEY: fresh.HANDOFF_SIGNING_KEY },
      }),
    );
    const third = await stack.signIn({ worker: only, tenant: 'keyrot', user: 'alice' });
    assert.ok(third.accepted, `after the rewrite the new CONFIG_KEY alone opens the record\n${third.explain()}`);
    assert.deepEqual((await request(`${only.apex}/.well-known/jwks.json`)).json().keys.map((k) => k.kid), [newKid]);
    await only.stop();

    // Control: with an unrelated CONFIG_KEY the record does not open, so the key really seals it.
    const wrong = await serveFrom(
      await startWorker({ name: 'admin-wrong-key', persistTo: persist, secrets: { ADMIN_TOKEN: old.ADMIN_TOKEN, HANDOFF_SIGNING_KEY: fresh.HANDOFF_SIGNING_KEY } }),
    );
    const refused = await stack.signIn({ worker: wrong, tenant: 'keyrot', user: 'alice' });
    assert.equal(refused.accepted ?? null, null, 'a record sealed under another CONFIG_KEY must not open');
    assert.ok(refused.final.status >= 400, `refused with ${refused.final.status}`);
    await wrong.stop();

    // A HANDOFF_SIGNING_KEY whose x is another key's: the runtime derives the public key from
    // d, finds it is not x, and the worker neither publishes x nor signs anything.
    const freshJwk = JSON.parse(fresh.HANDOFF_SIGNING_KEY);
    const otherX = JSON.parse(old.HANDOFF_SIGNING_KEY).x;
    const skewed = await serveFrom(
      await startWorker({
        name: 'admin-skewed-handoff-key',
        persistTo: persist,
        secrets: { ADMIN_TOKEN: old.ADMIN_TOKEN, CONFIG_KEY: fresh.CONFIG_KEY, HANDOFF_SIGNING_KEY: JSON.stringify({ ...freshJwk, x: otherX }) },
      }),
    );
    const keys = await request(`${skewed.apex}/.well-known/jwks.json`);
    assert.equal(keys.status, 503, `JWKS with a mismatched key: ${keys.status} ${keys.body}`);
    assert.ok(!keys.body.includes(otherX), 'the mismatched x is not published');
    const unsigned = await stack.signIn({ worker: skewed, tenant: 'keyrot', user: 'alice' });
    assert.equal(unsigned.accepted ?? null, null, 'no assertion from a mismatched key');
    assert.equal(unsigned.final.status, 503, `callback with a mismatched key: ${unsigned.final.status}`);
    assert.match(skewed.output(), /x does not belong to its d/, 'the log line says what is wrong');
    assert.ok(!skewed.output().includes(freshJwk.d), 'd stays out of the output');
    await skewed.stop();
  });
});

test('no secret reached the worker output', async () => {
  const outputs = [stack.worker.output(), ...restarted.map((w) => w.output())].join('\n');
  assertNoSecrets(outputs, [...secretsSeen, stack.worker.adminToken, stack.worker.secrets.CONFIG_KEY, ...stack.op.log.secrets], 'wrangler output');
});
