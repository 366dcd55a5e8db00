// The real OpenID Provider for the tests and the run command: panva's oidc-provider on
// loopback, with test users, clients added at run time, a request log the tests assert on,
// a headless interaction (login_hint → logged in, consent granted) or a plain login form,
// and signing-key rotation that keeps the issuer and the store.

import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';
import { listen, readBody } from './http.mjs';

export const PASSWORD = 'demo';

/** Okta's authentication-context classes (acr): one factor, and any two factors (MFA). */
export const ACR = { pwd: 'urn:okta:loa:1fa:any', mfa: 'urn:okta:loa:2fa:any' };

/**
 * Test members. `userinfoOnly` users get a bare ID token; their profile is only at userinfo.
 * `mfa` users can meet ACR.mfa (the others only ACR.pwd). `groups` are released with the
 * `groups` scope; `groupsUserinfoOnly` keeps them out of the ID token (Okta's "thin" tokens).
 */
export const DEFAULT_USERS = [
  { username: 'alice', sub: '00ualice000000000001', email: 'alice@example.com', email_verified: true, name: 'Alice Anderson', given_name: 'Alice', family_name: 'Anderson' },
  { username: 'bob', sub: '00ubob00000000000002', email: 'bob@example.com', email_verified: true, name: 'Bob Brown', given_name: 'Bob', family_name: 'Brown' },
  { username: 'carol', sub: '00ucarol000000000003', email: 'carol@example.com', email_verified: false, name: 'Carol Unverified', given_name: 'Carol', family_name: 'Unverified' },
  { username: 'dave', sub: '00udave0000000000004', email: 'dave@example.com', email_verified: true, name: 'Dave Userinfo', given_name: 'Dave', family_name: 'Userinfo', userinfoOnly: true },
  // Logging in as mallory makes the provider answer access_denied with markup in the description.
  { username: 'mallory', sub: '00umallory0000000005', email: 'mallory@example.com', email_verified: true, name: 'Mallory', deny: true },
  { username: 'mia', sub: '00umia00000000000006', email: 'mia@example.com', email_verified: true, name: 'Mia Multifactor', given_name: 'Mia', family_name: 'Multifactor', mfa: true },
  { username: 'gwen', sub: '00ugwen0000000000007', email: 'gwen@example.com', email_verified: true, name: 'Gwen Groups', given_name: 'Gwen', family_name: 'Groups', groups: ['Members', 'Staff'] },
  { username: 'hank', sub: '00uhank0000000000008', email: 'hank@example.com', email_verified: true, name: 'Hank Thin', given_name: 'Hank', family_name: 'Thin', groups: ['Members'], groupsUserinfoOnly: true },
  { username: 'ivan', sub: '00uivan0000000000009', email: 'ivan@example.com', email_verified: true, name: 'Ivan Guest', given_name: 'Ivan', family_name: 'Guest', groups: ['Guests'] },
];

/**
 * The acr (and amr) a login gets when the authorize request asked for `acr_values`: the first
 * requested value the member can meet, else the member's best (a weaker one than asked — the
 * provider answers with what it managed, and the relying party must notice). Without
 * acr_values, none (so tokens stay as they were for every other test).
 */
export function acrFor(user, acrValues) {
  if (!acrValues) return {};
  const can = user.mfa ? [ACR.mfa, ACR.pwd] : [ACR.pwd];
  const acr = acrValues.split(' ').find((v) => can.includes(v)) ?? can[0];
  return { acr, amr: acr === ACR.mfa ? ['pwd', 'mfa'] : ['pwd'] };
}

export const DENY_DESCRIPTION = '<script>alert(1)</script> User is not assigned to the client application & "more"';

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1rem;padding:.6rem 1rem}
.err{color:#b00}</style></head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}

function loginForm(uid, { error, loginHint } = {}) {
  return page(
    'Sign in to the test identity provider',
    `${error ? `<p class="err" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" value="${esc(loginHint ?? '')}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button>
</form>
<p>Test users: alice, bob, carol (unverified email), dave, mia (MFA), gwen, hank, ivan (groups) — password <code>${PASSWORD}</code>.</p>`,
  );
}

/** An in-memory adapter whose store outlives a provider instance (key rotation). */
function makeAdapterClass(store) {
  return class MapAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const exp = expiresIn ? Date.now() + expiresIn * 1000 : null;
      store.set(this.key(id), { payload: { ...payload }, exp });
      if (payload.grantId) {
        const g = `grant:${payload.grantId}`;
        store.set(g, { payload: [...(store.get(g)?.payload ?? []), this.key(id)], exp: null });
      }
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, exp });
      if (payload.uid) store.set(`uid:${this.name}:${payload.uid}`, { payload: id, exp });
    }

    async find(id) {
      const e = store.get(this.key(id));
      if (!e) return undefined;
      if (e.exp !== null && e.exp < Date.now()) {
        store.delete(this.key(id));
        return undefined;
      }
      return { ...e.payload };
    }

    async findByUserCode(userCode) {
      const id = store.get(`userCode:${userCode}`)?.payload;
      return id ? this.find(id) : undefined;
    }

    async findByUid(uid) {
      const id = store.get(`uid:${this.name}:${uid}`)?.payload;
      return id ? this.find(id) : undefined;
    }

    async consume(id) {
      const e = store.get(this.key(id));
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      store.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const g = `grant:${grantId}`;
      for (const k of store.get(g)?.payload ?? []) store.delete(k);
      store.delete(g);
    }
  };
}

async function newSigningKey(alg = 'RS256') {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  jwk.kid = `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`;
  jwk.alg = alg;
  jwk.use = 'sig';
  return jwk;
}

function decodeBasic(header) {
  const m = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!m) return null;
  const raw = Buffer.from(m[1], 'base64').toString('utf8');
  const i = raw.indexOf(':');
  if (i < 0) return { raw };
  const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
  return { raw, id: dec(raw.slice(0, i)), secret: dec(raw.slice(i + 1)) };
}

/**
 * Starts the provider.
 *   port: 0 for any; issuerPath: '' (org authorization server) or e.g. '/oauth2/default'.
 *   autoLogin: login_hint naming a known user logs in without a page (default true).
 * Returns a handle; see the fields below.
 */
export async function startOp({ port = 0, issuerPath = '', users = DEFAULT_USERS, autoLogin = true, quiet = true } = {}) {
  const store = new Map();
  const Adapter = makeAdapterClass(store);
  const cookieKeys = [crypto.randomBytes(32).toString('hex')];
  const byName = new Map();
  for (const u of users) {
    byName.set(u.username, u);
    byName.set(u.email, u);
    byName.set(u.sub, u);
  }

  const log = {
    authorize: [],
    token: [],
    userinfo: [],
    jwks: 0,
    jwksFetches: [],
    discovery: 0,
    endSession: [],
    logoutConfirmed: [],
    interactions: [],
    requests: [],
    /** codes, code verifiers, ID and access tokens seen at the token endpoint (for log scans) */
    secrets: [],
  };
  let keys = [await newSigningKey('RS256')];
  let provider;
  let handler;

  const srv = await listen((req, res) => dispatch(req, res).catch((err) => {
    if (!quiet) console.error('[op]', err);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end(String(err?.message ?? err));
    }
  }), port);
  const origin = `http://127.0.0.1:${srv.port}`;
  const issuer = `${origin}${issuerPath}`;

  function build() {
    const p = new Provider(issuer, {
      adapter: Adapter,
      jwks: { keys },
      cookies: { keys: cookieKeys },
      conformIdTokenClaims: false,
      extraParams: ['idp'],
      pkce: { required: () => true },
      responseTypes: ['code'],
      scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      // acr is released when acr_values asks for it, auth_time when max_age or prompt=login
      // does (oidc-provider's own rules); amr only exists on logins that were asked for an acr.
      acrValues: [ACR.pwd, ACR.mfa],
      claims: {
        openid: ['sub', 'idp', 'amr'],
        email: ['email', 'email_verified'],
        profile: ['name', 'given_name', 'family_name'],
        groups: ['groups'],
      },
      clientDefaults: { grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'RS256' },
      ttl: { AccessToken: 3600, AuthorizationCode: 120, IdToken: 3600, Interaction: 3600, Session: 3600, Grant: 3600 },
      interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
      features: {
        devInteractions: { enabled: false },
        userinfo: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx, form) => {
            ctx.body = page('Sign out', `${form}<p>Do you want to sign out of the test identity provider?</p>
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
          },
          postLogoutSuccessSource: async (ctx) => {
            ctx.body = page('Signed out', '<p>You are signed out of the test identity provider.</p>');
          },
        },
      },
      renderError: async (ctx, out) => {
        ctx.type = 'html';
        ctx.body = page('Identity provider error', `<pre>${esc(JSON.stringify(out, null, 2))}</pre>`);
      },
      findAccount: async (ctx, sub) => {
        const u = byName.get(sub);
        if (!u || u.sub !== sub) return undefined;
        return {
          accountId: u.sub,
          async claims(use) {
            const base = { sub: u.sub, idp: 'test-idp-00o1' };
            if (u.userinfoOnly && use === 'id_token') return base;
            const out = { ...base, email: u.email, email_verified: u.email_verified, given_name: u.given_name, family_name: u.family_name };
            if (u.name !== undefined) out.name = u.name;
            if (u.groups && !(u.groupsUserinfoOnly && use === 'id_token')) out.groups = u.groups;
            return out;
          },
        };
      },
    });
    p.proxy = false;
    p.use(async (ctx, next) => {
      const entry = { method: ctx.method, path: ctx.path, query: { ...ctx.query }, at: Date.now() };
      const basic = decodeBasic(ctx.get('authorization'));
      await next();
      entry.route = ctx.oidc?.route;
      entry.status = ctx.status;
      log.requests.push(entry);
      switch (entry.route) {
        case 'authorization':
          log.authorize.push({ params: entry.query, status: ctx.status, location: ctx.response.get('location') });
          break;
        case 'token': {
          const body = ctx.oidc?.body ?? {};
          log.token.push({
            status: ctx.status,
            authMethod: basic ? 'client_secret_basic' : body.client_secret !== undefined ? 'client_secret_post' : 'none',
            basic,
            bodyClientId: body.client_id,
            bodyHasSecret: body.client_secret !== undefined,
            grantType: body.grant_type,
            redirectUri: body.redirect_uri,
            hasCodeVerifier: typeof body.code_verifier === 'string',
            client: ctx.oidc?.client?.clientId,
            idToken: ctx.body?.id_token,
          });
          for (const v of [body.code, body.code_verifier, ctx.body?.id_token, ctx.body?.access_token]) if (typeof v === 'string') log.secrets.push(v);
          break;
        }
        case 'jwks':
          log.jwks += 1;
          log.jwksFetches.push(Date.now());
          break;
        case 'discovery':
          log.discovery += 1;
          break;
        case 'userinfo':
          log.userinfo.push({ status: ctx.status, authorization: Boolean(ctx.get('authorization')) });
          break;
        case 'end_session':
          log.endSession.push({ params: entry.query, status: ctx.status });
          break;
        case 'end_session_confirm':
          log.logoutConfirmed.push({ status: ctx.status, location: ctx.response.get('location') });
          break;
        default:
      }
    });
    if (quiet) p.on('server_error', () => {});
    provider = p;
    handler = p.callback();
  }

  async function interaction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    log.interactions.push({ uid, prompt: prompt.name, reasons: prompt.reasons, action, loginHint: params.login_hint, acrValues: params.acr_values, maxAge: params.max_age, at: Date.now() });
    const finish = (result) => provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
    const loginAs = async (u) => {
      if (u.deny) return finish({ error: 'access_denied', error_description: DENY_DESCRIPTION });
      return finish({ login: { accountId: u.sub, remember: false, ...acrFor(u, params.acr_values) } });
    };

    if (prompt.name === 'login') {
      if (action === 'login' && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const u = byName.get(form.get('username') ?? '');
        if (!u || form.get('password') !== PASSWORD) {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
          res.end(loginForm(uid, { error: 'Unknown user or wrong password.', loginHint: form.get('username') }));
          return;
        }
        await loginAs(u);
        return;
      }
      const hinted = params.login_hint ? byName.get(params.login_hint) : undefined;
      if (autoLogin && hinted) {
        await loginAs(hinted);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginForm(uid, { loginHint: params.login_hint }));
      return;
    }

    if (prompt.name === 'consent') {
      // Consent is implied for the tenant's own application, as in an Okta org.
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
      if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
      const grantId = await grant.save();
      await finish({ consent: { grantId } });
      return;
    }
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`unexpected prompt ${prompt.name}`);
  }

  async function dispatch(req, res) {
    const url = new URL(req.url, origin);
    const m = /^\/interaction\/([^/]+)(?:\/(login))?$/.exec(url.pathname);
    if (m) {
      await interaction(req, res, m[1], m[2]);
      return;
    }
    if (issuerPath) {
      if (url.pathname !== issuerPath && !url.pathname.startsWith(`${issuerPath}/`)) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
      }
      req.originalUrl = req.url;
      req.url = req.url.slice(issuerPath.length) || '/';
    }
    handler(req, res);
  }

  build();

  return {
    issuer,
    origin,
    port: srv.port,
    /** okta_domain / authorization_server_id for a tenant pointing here. */
    tenantFields() {
      return {
        okta_domain: `127.0.0.1:${srv.port}`,
        authorization_server_id: issuerPath ? issuerPath.replace(/^\/oauth2\//, '') : null,
      };
    },
    users,
    log,
    get provider() {
      return provider;
    },
    /** Registers (or replaces) a client. Returns its metadata. */
    async addClient({ client_id, client_secret, redirect_uris, post_logout_redirect_uris = [], token_endpoint_auth_method = 'client_secret_basic' }) {
      const meta = {
        client_id,
        client_secret,
        redirect_uris,
        post_logout_redirect_uris,
        token_endpoint_auth_method,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'RS256',
      };
      await new Adapter('Client').upsert(client_id, meta);
      return meta;
    },
    /** Current public signing keys' ids (the first signs). */
    kids() {
      return keys.map((k) => k.kid);
    },
    /**
     * Rotates the signing key: a new provider with a new key in front, same issuer, store
     * and cookie keys. keepOld: also publish the previous key.
     */
    async rotateKeys({ keepOld = false } = {}) {
      const fresh = await newSigningKey('RS256');
      keys = keepOld ? [fresh, ...keys] : [fresh];
      build();
      return fresh.kid;
    },
    close: () => srv.close(),
  };
}
