// A hand-written, deliberately misbehaving OpenID Provider. One server hosts any number of
// "authorization servers" at /oauth2/{id} (issuer http://127.0.0.1:PORT/oauth2/{id}), each
// programmable per test, so every scenario has its own issuer and the worker's per-issuer
// discovery/JWKS caches never leak between tests. A second "evil" listener stands for a
// foreign host: a correct worker never sends it anything.

import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, importJWK } from 'jose';
import { discoveryDocument } from './discovery.mjs';
import { listen, readBody } from './http.mjs';

export const DEFAULT_CLAIMS = {
  sub: '00uerin0000000000001',
  email: 'erin@example.com',
  email_verified: true,
  name: 'Erin Example',
  given_name: 'Erin',
  family_name: 'Example',
  idp: '0oabadidp000000001',
};

/**
 * ID token mutations. Each names what it does; `ok: true` marks controls the worker must
 * accept; `code` is the log line's `error` the worker must refuse the others with — the
 * check that fires, so a test fails when that check is removed (not only when all are).
 */
export const ID_TOKEN_MUTATIONS = {
  'forged-signature': { ok: false, code: 'id_token_bad_signature', what: 'signed by a key that is not in the JWKS, under a published kid' },
  'wrong-iss': { ok: false, code: 'id_token_wrong_issuer', what: 'iss is another issuer' },
  'aud-other': { ok: false, code: 'id_token_wrong_audience', what: 'aud does not contain the client' },
  'multi-aud-no-azp': { ok: false, code: 'id_token_azp_mismatch', what: 'several audiences, no azp' },
  'multi-aud-wrong-azp': { ok: false, code: 'id_token_azp_mismatch', what: 'several audiences, azp names another client' },
  'multi-aud-azp-ok': { ok: true, what: 'several audiences, azp = client_id (valid)' },
  expired: { ok: false, code: 'id_token_expired', what: 'exp 10 minutes ago' },
  'iat-missing': { ok: false, code: 'id_token_missing_iat', what: 'no iat' },
  'iat-future': { ok: false, code: 'id_token_issued_in_future', what: 'iat 10 minutes in the future' },
  'nonce-wrong': { ok: false, code: 'id_token_nonce_mismatch', what: 'nonce differs from the one sent' },
  'nonce-missing': { ok: false, code: 'id_token_missing_nonce', what: 'no nonce' },
  'sub-missing': { ok: false, code: 'id_token_missing_sub', what: 'no sub' },
  'alg-none': { ok: false, code: 'id_token_unsupported_alg', what: 'alg none, empty signature' },
  'hs256-public-key-pem': { ok: false, code: 'id_token_unsupported_alg', what: 'HS256 with the RSA public key PEM as the HMAC secret' },
  'hs256-public-jwk': { ok: false, code: 'id_token_unsupported_alg', what: 'HS256 with the RSA public JWK JSON as the HMAC secret' },
  'ps256': { ok: false, code: 'id_token_unsupported_alg', what: 'PS256 (not an allowed algorithm) with a published RSA key' },
  'alg-keytype-mismatch': { ok: false, code: 'id_token_key_mismatch', what: 'RS256 header whose kid names the EC key' },
  'unknown-kid': { ok: false, code: 'id_token_unknown_kid', what: 'signed by a key never published, its own kid' },
  'no-kid': { ok: null, what: 'no kid in the header (valid only when exactly one key fits)' },
  'two-segments': { ok: false, code: 'id_token_malformed', what: 'malformed: two segments' },
  'bad-json': { ok: false, code: 'id_token_malformed', what: 'malformed: payload is not JSON' },
  'exp-missing': { ok: false, code: 'id_token_missing_exp', what: 'no exp' },
  'crit-header': { ok: false, code: 'id_token_crit_header', what: 'validly signed, with a crit header naming an extension the worker does not know' },
  'nbf-future': { ok: false, code: 'id_token_not_yet_valid', what: 'nbf 10 minutes in the future' },
  'exp-in-skew': { ok: true, what: 'exp 60 s ago: inside the 120 s clock skew (valid)' },
  'iat-in-skew': { ok: true, what: 'iat 60 s in the future: inside the 120 s clock skew (valid)' },
  'nonce-repeated': { ok: false, code: 'id_token_malformed', what: 'validly signed, but the payload names nonce twice: another first, the real one last' },
};

async function key(alg, kid) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pub = await exportJWK(publicKey);
  pub.kid = kid;
  pub.alg = alg;
  pub.use = 'sig';
  return { alg, kid, privateKey, publicKey, pub, pem: await exportSPKI(publicKey) };
}

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function decodeBasic(header) {
  const m = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!m) return null;
  const raw = Buffer.from(m[1], 'base64').toString('utf8');
  const i = raw.indexOf(':');
  const dec = (s) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return null;
    }
  };
  return i < 0 ? { raw } : { raw, id: dec(raw.slice(0, i)), secret: dec(raw.slice(i + 1)) };
}

/** `input` (header.payload, already encoded) signed RS256 by `signer`: for JWS jose will not write. */
async function signRaw(signer, input) {
  if (signer.alg !== 'RS256') throw new Error('signRaw signs RS256 only');
  const sig = await crypto.webcrypto.subtle.sign('RSASSA-PKCS1-v1_5', signer.privateKey, Buffer.from(input));
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export async function startBadOp() {
  const keys = {
    rsa1: await key('RS256', 'bad-rsa-1'),
    rsa2: await key('RS256', 'bad-rsa-2'),
    rogue: await key('RS256', 'bad-rsa-rogue'), // never published
    ec1: await key('ES256', 'bad-ec-1'),
  };
  const servers = new Map();
  const evilHits = [];
  const slowTimers = new Set();
  /** Waits `ms`, or until the worker hangs up on `res`. */
  const stall = (res, ms) =>
    new Promise((r) => {
      const t = setTimeout(r, ms);
      slowTimers.add(t);
      res.on('close', () => {
        clearTimeout(t);
        r();
      });
    });

  const evil = await listen(async (req, res) => {
    evilHits.push({ method: req.method, url: req.url, authorization: req.headers.authorization ?? null, body: await readBody(req).catch(() => '') });
    json(res, 200, { access_token: 'evil', token_type: 'Bearer', id_token: 'evil' });
  });

  const main = await listen((req, res) =>
    handle(req, res).catch((err) => {
      if (!res.headersSent) json(res, 500, { error: 'bad_op_crashed', detail: String(err?.message ?? err) });
    }),
  );
  const origin = `http://127.0.0.1:${main.port}`;
  const evilOrigin = `http://127.0.0.1:${evil.port}`;

  async function signIdToken(as, claims, mutation) {
    const o = as.options;
    let signer = keys[o.signWith];
    let alg = signer.alg;
    const header = { alg, kid: signer.kid, typ: 'JWT' };
    const c = { ...claims };
    const now = Math.floor(Date.now() / 1000);
    switch (mutation) {
      case 'forged-signature':
        signer = keys.rogue;
        header.kid = keys[o.signWith].kid;
        break;
      case 'wrong-iss':
        c.iss = `${origin}/oauth2/not-${as.id}`;
        break;
      case 'aud-other':
        c.aud = 'another-client';
        break;
      case 'multi-aud-no-azp':
        c.aud = [c.aud, 'another-client'];
        delete c.azp;
        break;
      case 'multi-aud-wrong-azp':
        c.aud = [c.aud, 'another-client'];
        c.azp = 'another-client';
        break;
      case 'multi-aud-azp-ok':
        c.azp = c.aud;
        c.aud = [c.aud, 'another-client'];
        break;
      case 'expired':
        c.iat = now - 4200;
        c.exp = now - 600;
        break;
      case 'iat-missing':
        delete c.iat;
        break;
      case 'exp-missing':
        delete c.exp;
        break;
      case 'nbf-future':
        c.nbf = now + 600;
        break;
      case 'exp-in-skew':
        c.iat = now - 3600;
        c.exp = now - 60;
        break;
      case 'iat-in-skew':
        c.iat = now + 60;
        break;
      case 'crit-header':
        // jose refuses to sign an unknown crit extension, so the JWS is put together here.
        return signRaw(signer, `${b64u({ ...header, crit: ['urn:example:unknown'], 'urn:example:unknown': true })}.${b64u(c)}`);
      case 'iat-future':
        c.iat = now + 600;
        c.exp = now + 4200;
        break;
      case 'nonce-wrong':
        c.nonce = crypto.randomBytes(32).toString('base64url');
        break;
      case 'nonce-missing':
        delete c.nonce;
        break;
      case 'sub-missing':
        delete c.sub;
        break;
      case 'alg-none':
        return `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(c)}.`;
      case 'hs256-public-key-pem':
      case 'hs256-public-jwk': {
        const rsa = keys[o.signWith.startsWith('rsa') ? o.signWith : 'rsa1'];
        const secret = new TextEncoder().encode(mutation === 'hs256-public-key-pem' ? rsa.pem : JSON.stringify(rsa.pub));
        return new SignJWT(c).setProtectedHeader({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' }).sign(secret);
      }
      case 'ps256': {
        const rsa = keys[o.signWith.startsWith('rsa') ? o.signWith : 'rsa1'];
        const k = await importJWK({ ...(await exportJWK(rsa.privateKey)), alg: 'PS256' }, 'PS256');
        return new SignJWT(c).setProtectedHeader({ alg: 'PS256', kid: rsa.kid, typ: 'JWT' }).sign(k);
      }
      case 'alg-keytype-mismatch':
        signer = keys.rogue;
        alg = 'RS256';
        header.alg = 'RS256';
        header.kid = keys.ec1.kid;
        break;
      case 'unknown-kid':
        signer = keys.rogue;
        header.kid = keys.rogue.kid;
        break;
      case 'no-kid':
        delete header.kid;
        break;
      case 'two-segments':
        return `${b64u(header)}.${b64u(c)}`;
      case 'bad-json':
        return `${b64u(header)}.${b64u('{"sub": oops')}.${b64u('sig')}`;
      case 'nonce-repeated': {
        // JSON text a library would not write: a parser keeping the last member would see
        // the real nonce and accept; the worker must refuse the repeat itself.
        const other = JSON.stringify(crypto.randomBytes(32).toString('base64url'));
        return signRaw(signer, `${b64u(header)}.${b64u(`{"nonce":${other},${JSON.stringify(c).slice(1)}`)}`);
      }
      case null:
      case undefined:
        break;
      default:
        throw new Error(`unknown mutation ${mutation}`);
    }
    return new SignJWT(c).setProtectedHeader(header).sign(signer.privateKey);
  }

  function discoveryDoc(as) {
    const i = as.issuer;
    const doc = discoveryDocument(i, {
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'email', 'email_verified', 'name', 'given_name', 'family_name', 'idp'],
      authorization_response_iss_parameter_supported: as.options.issOnCallback !== null,
    });
    switch (as.options.discovery) {
      case 'wrong-issuer':
        doc.issuer = `${origin}/oauth2/default`;
        break;
      case 'issuer-trailing-slash':
        doc.issuer = `${i}/`;
        break;
      case 'foreign-token-endpoint':
        doc.token_endpoint = `${evilOrigin}/token`;
        break;
      case 'foreign-jwks':
        doc.jwks_uri = `${evilOrigin}/keys`;
        break;
      case 'foreign-authorize':
        doc.authorization_endpoint = `${evilOrigin}/authorize`;
        break;
      default:
        if (typeof as.options.discovery === 'function') return as.options.discovery(doc);
    }
    return doc;
  }

  async function handleAs(as, rest, req, res, url) {
    const o = as.options;
    const c = as.counters;
    if (rest === '/.well-known/openid-configuration') {
      c.discovery += 1;
      if (o.discovery === 'not-json') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body>Welcome to our login portal</body></html>');
        return;
      }
      if (o.discovery === 'status-500') return json(res, 500, { error: 'down' });
      if (o.discovery === 'unreachable') {
        req.socket.destroy();
        return undefined;
      }
      return json(res, 200, discoveryDoc(as), o.discoveryCacheControl ? { 'cache-control': o.discoveryCacheControl } : {});
    }
    if (rest === '/v1/keys') {
      c.jwks += 1;
      as.jwksFetches.push(Date.now());
      const list = o.jwks.map((n) => keys[n].pub);
      return json(res, 200, { keys: list }, o.jwksCacheControl ? { 'cache-control': o.jwksCacheControl } : {});
    }
    if (rest === '/v1/authorize') {
      c.authorize += 1;
      const p = Object.fromEntries(url.searchParams);
      as.authorizeRequests.push(p);
      const target = new URL(p.redirect_uri);
      const out = new URLSearchParams();
      if (o.authorizeError) {
        out.set('error', o.authorizeError.error);
        if (o.authorizeError.error_description !== undefined) out.set('error_description', o.authorizeError.error_description);
      } else {
        const code = crypto.randomBytes(24).toString('base64url');
        as.codes.set(code, p);
        as.issuedCodes.push(code);
        out.set('code', code);
      }
      if (p.state !== undefined) out.set('state', p.state);
      if (o.issOnCallback === 'correct') out.set('iss', as.issuer);
      else if (o.issOnCallback === 'wrong') out.set('iss', `${origin}/oauth2/not-${as.id}`);
      for (const [k, v] of o.extraCallbackParams ?? []) out.append(k, v);
      if (o.responseMode === 'form_post') {
        const esc = (s) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
        const inputs = [...out].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!DOCTYPE html><html><body><form method="post" action="${esc(target.href)}">${inputs}<noscript><button>Continue</button></noscript></form><script>document.forms[0].submit()</script></body></html>`);
        return undefined;
      }
      for (const [k, v] of out) target.searchParams.append(k, v);
      res.writeHead(302, { location: target.href });
      res.end();
      return undefined;
    }
    if (rest === '/v1/token' && req.method === 'POST') {
      c.token += 1;
      const body = new URLSearchParams(await readBody(req));
      const basic = decodeBasic(req.headers.authorization);
      const authz = as.codes.get(body.get('code') ?? '');
      const verifier = body.get('code_verifier');
      const record = {
        authMethod: basic ? 'client_secret_basic' : body.has('client_secret') ? 'client_secret_post' : 'none',
        basic,
        clientId: basic?.id ?? body.get('client_id'),
        secret: basic?.secret ?? body.get('client_secret'),
        grantType: body.get('grant_type'),
        redirectUri: body.get('redirect_uri'),
        codeKnown: Boolean(authz),
        pkceOk: Boolean(authz && verifier && crypto.createHash('sha256').update(verifier).digest('base64url') === authz.code_challenge),
        redirectUriMatches: Boolean(authz && authz.redirect_uri === body.get('redirect_uri')),
        accept: req.headers.accept ?? null,
        contentType: req.headers['content-type'] ?? null,
      };
      as.tokenRequests.push(record);
      if (authz) as.codes.delete(body.get('code'));
      switch (o.token) {
        case 'status-500':
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('Internal Server Error');
          return undefined;
        case 'not-json':
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html><body>Maintenance</body></html>');
          return undefined;
        case 'redirect':
          res.writeHead(302, { location: `${evilOrigin}/token` });
          res.end();
          return undefined;
        case 'reset':
          // The connection dropped with no answer: the worker's fetch fails outright.
          req.socket.destroy();
          return undefined;
        case 'invalid_grant':
          return json(res, 400, { error: 'invalid_grant', error_description: 'The authorization code is invalid or has expired.' });
        case 'slow-body':
          // Headers and half the body at once, the rest never (until the worker hangs up).
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '64' });
          res.write('{"token_type":"Bearer","id_token":"');
          await stall(res, o.slowMs);
          if (!res.destroyed) res.destroy();
          return undefined;
        case 'slow':
          await stall(res, o.slowMs);
          if (res.destroyed) return undefined;
          break;
        default:
      }
      if (!authz) return json(res, 400, { error: 'invalid_grant', error_description: 'unknown code' });
      const now = Math.floor(Date.now() / 1000);
      const claims = { ...DEFAULT_CLAIMS, ...o.claims };
      const idClaims = { iss: as.issuer, aud: authz.client_id, iat: now, exp: now + 3600, auth_time: now, ...(authz.nonce !== undefined ? { nonce: authz.nonce } : {}), ...claims };
      // Applied to the token's final claims, so the standard ones (auth_time…) can go too.
      for (const k of o.idTokenOmit) delete idClaims[k];
      const idToken = await signIdToken(as, idClaims, o.idToken);
      const accessToken = `at-${crypto.randomBytes(24).toString('base64url')}`;
      as.accessTokens.set(accessToken, claims.sub ?? DEFAULT_CLAIMS.sub);
      as.issued.push({ idToken, accessToken, code: body.get('code'), verifier });
      const out = { token_type: 'Bearer', expires_in: 3600, access_token: accessToken, scope: 'openid email profile' };
      if (o.token !== 'no-id-token') out.id_token = idToken;
      if (o.token === 'gzip' || o.token === 'gzip-over-cap') {
        // Compressed on the wire: Content-Length is the compressed size, and the runtime's
        // fetch hands the worker the decompressed body (300 KB of JSON for over-cap).
        if (o.token === 'gzip-over-cap') out.padding = ' '.repeat(300_000);
        const gz = zlib.gzipSync(Buffer.from(JSON.stringify(out)));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length, 'cache-control': 'no-store' });
        res.end(gz);
        return undefined;
      }
      return json(res, 200, out, { 'cache-control': 'no-store' });
    }
    if (rest === '/v1/userinfo') {
      c.userinfo += 1;
      const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
      as.userinfoRequests.push({ authorization: req.headers.authorization ?? null, known: Boolean(m && as.accessTokens.has(m[1])) });
      if (!m || !as.accessTokens.has(m[1])) return json(res, 401, { error: 'invalid_token' });
      if (o.userinfo === 'status-500') return json(res, 500, { error: 'down' });
      const claims = { ...DEFAULT_CLAIMS, ...o.claims, ...o.userinfoClaims };
      if (o.userinfo === 'different-sub') claims.sub = '00uimpostor000000009';
      return json(res, 200, claims);
    }
    if (rest === '/v1/logout') {
      const p = Object.fromEntries(url.searchParams);
      as.logoutRequests.push(p);
      if (!p.post_logout_redirect_uri) return json(res, 400, { error: 'invalid_request' });
      const t = new URL(p.post_logout_redirect_uri);
      if (p.state !== undefined) t.searchParams.set('state', p.state);
      res.writeHead(302, { location: t.href });
      res.end();
      return undefined;
    }
    return json(res, 404, { error: 'not_found', path: rest });
  }

  async function handle(req, res) {
    const url = new URL(req.url, origin);
    const m = /^\/oauth2\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const as = m && servers.get(m[1]);
    if (!as) return json(res, 404, { error: 'no such authorization server' });
    return handleAs(as, m[2] ?? '/', req, res, url);
  }

  const defaults = () => ({
    discovery: 'ok',
    discoveryCacheControl: null,
    jwks: ['rsa1'],
    jwksCacheControl: null,
    signWith: 'rsa1',
    idToken: null,
    idTokenOmit: [],
    claims: {},
    userinfoClaims: {},
    token: 'ok',
    slowMs: 12_000,
    issOnCallback: null,
    userinfo: 'ok',
    authorizeError: null,
    responseMode: 'query',
    extraCallbackParams: [],
  });

  return {
    origin,
    port: main.port,
    keys,
    evil: { origin: evilOrigin, port: evil.port, hits: evilHits },
    /** Creates (or returns) the authorization server /oauth2/{id} with options. */
    server(id, options = {}) {
      if (!/^[a-z0-9-]+$/.test(id)) throw new Error(`bad authorization server id ${id}`);
      const as = {
        id,
        issuer: `${origin}/oauth2/${id}`,
        options: { ...defaults(), ...options },
        counters: { discovery: 0, jwks: 0, authorize: 0, token: 0, userinfo: 0 },
        jwksFetches: [],
        authorizeRequests: [],
        tokenRequests: [],
        userinfoRequests: [],
        logoutRequests: [],
        issued: [],
        issuedCodes: [],
        codes: new Map(),
        accessTokens: new Map(),
        set(partial) {
          Object.assign(as.options, partial);
          return as;
        },
        tenantFields() {
          return { okta_domain: `127.0.0.1:${main.port}`, authorization_server_id: id };
        },
        /** Every secret-ish string this server handed out or received (for log scans). */
        secrets() {
          const out = [];
          for (const i of as.issued) out.push(i.idToken, i.accessToken, i.code, i.verifier);
          out.push(...as.issuedCodes);
          return out.filter(Boolean);
        },
      };
      servers.set(id, as);
      return as;
    },
    /** Every code, token and verifier any authorization server handed out or received. */
    allSecrets() {
      return [...servers.values()].flatMap((as) => as.secrets());
    },
    async close() {
      for (const t of slowTimers) clearTimeout(t);
      await Promise.all([main.close(), evil.close()]);
    },
  };
}

export { sleep };
