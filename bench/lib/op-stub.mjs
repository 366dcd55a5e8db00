// A fast OpenID Provider stub for the benchmark: node:http + node:crypto only, everything on
// 127.0.0.1. It is deliberately minimal (no sessions, no consent) so that what the benchmark
// measures is the worker, not the IdP — but it still checks what a real OP checks (client
// auth, redirect_uri, single-use code, PKCE S256) so a broken login cannot look fast.
//
// Issuer: http://127.0.0.1:{port}/oauth2/{serverId} (Okta's custom authorization server
// layout); any other authorization server id answers 404. Both workers (the Rust worker and
// the JavaScript peer) sign in against one stub; `counts` says which endpoints they called, so
// subrequests per login are counted here. `/sso/assertion` stands in for the portal.

import crypto from 'node:crypto';
import { discoveryDocument } from '../../tests/support/discovery.mjs';
import { listen, readBody } from '../../tests/support/http.mjs';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic's base64. */
function formDecode(s) {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

const BODY_LIMIT = 64 * 1024;

/**
 * Starts the stub. Returns { port, issuer, tenantFields(), counts, reset(), close() }.
 *   clients: [{ client_id, client_secret }]
 *   user: claims of the member every login signs in as.
 */
export async function startOpStub({ clients, serverId = 'default', user } = {}) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `bench-${crypto.randomBytes(6).toString('hex')}`;
  const pub = publicKey.export({ format: 'jwk' });
  const jwks = JSON.stringify({ keys: [{ kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: pub.n, e: pub.e }] });
  const header = b64url(JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' }));
  const clientMap = new Map(clients.map((c) => [c.client_id, c.client_secret]));
  const member = user ?? {
    sub: '00ubench0000000001',
    email: 'ada@bench.example',
    email_verified: true,
    name: 'Ada Lovelace',
    given_name: 'Ada',
    family_name: 'Lovelace',
  };

  /** code → { client_id, redirect_uri, nonce, challenge, at } (single use; bounded). */
  const codes = new Map();
  const MAX_CODES = 50_000;
  const CODE_TTL_MS = 120_000;

  const counts = { discovery: 0, jwks: 0, authorize: 0, token: 0, userinfo: 0, portal: 0, notFound: 0, errors: 0 };
  const errors = [];
  let port = 0;
  let issuer = '';
  let discovery = '';
  const base = `/oauth2/${serverId}`;

  function send(res, status, body, headers = {}) {
    res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }
  function oauthError(res, status, error, description) {
    counts.errors += 1;
    if (errors.length < 20) errors.push(`${error}: ${description}`);
    send(res, status, JSON.stringify({ error, error_description: description }), { 'content-type': 'application/json', 'cache-control': 'no-store' });
  }

  function authorize(res, url) {
    counts.authorize += 1;
    const q = url.searchParams;
    const clientId = q.get('client_id');
    const redirectUri = q.get('redirect_uri');
    if (!clientMap.has(clientId)) return oauthError(res, 400, 'invalid_client', 'unknown client_id');
    if (!redirectUri) return oauthError(res, 400, 'invalid_request', 'redirect_uri missing');
    if (q.get('response_type') !== 'code') return oauthError(res, 400, 'unsupported_response_type', 'code only');
    if (!q.get('state') || !q.get('nonce')) return oauthError(res, 400, 'invalid_request', 'state and nonce required');
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) return oauthError(res, 400, 'invalid_request', 'PKCE S256 required');
    if (!(q.get('scope') ?? '').split(' ').includes('openid')) return oauthError(res, 400, 'invalid_scope', 'openid required');
    const code = b64url(crypto.randomBytes(24));
    if (codes.size >= MAX_CODES) codes.delete(codes.keys().next().value);
    codes.set(code, { client_id: clientId, redirect_uri: redirectUri, nonce: q.get('nonce'), challenge: q.get('code_challenge'), at: Date.now() });
    const to = new URL(redirectUri);
    to.searchParams.set('code', code);
    to.searchParams.set('state', q.get('state'));
    send(res, 302, '', { location: to.href, 'cache-control': 'no-store' });
  }

  async function token(req, res) {
    counts.token += 1;
    const form = new URLSearchParams(await readBody(req, BODY_LIMIT));
    let clientId = null;
    let secret = null;
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Basic ')) {
      const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) {
        clientId = formDecode(decoded.slice(0, i));
        secret = formDecode(decoded.slice(i + 1));
      }
    } else {
      clientId = form.get('client_id');
      secret = form.get('client_secret');
    }
    if (!clientMap.has(clientId) || clientMap.get(clientId) !== secret) return oauthError(res, 401, 'invalid_client', 'client authentication failed');
    if (form.get('grant_type') !== 'authorization_code') return oauthError(res, 400, 'unsupported_grant_type', 'authorization_code only');
    const code = form.get('code');
    const entry = code ? codes.get(code) : undefined;
    if (code) codes.delete(code);
    if (!entry || Date.now() - entry.at > CODE_TTL_MS) return oauthError(res, 400, 'invalid_grant', 'unknown or used code');
    if (entry.client_id !== clientId) return oauthError(res, 400, 'invalid_grant', 'code issued to another client');
    if (form.get('redirect_uri') !== entry.redirect_uri) return oauthError(res, 400, 'invalid_grant', 'redirect_uri mismatch');
    const verifier = form.get('code_verifier') ?? '';
    if (b64url(crypto.createHash('sha256').update(verifier).digest()) !== entry.challenge) return oauthError(res, 400, 'invalid_grant', 'PKCE verification failed');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      aud: clientId,
      iat: now,
      exp: now + 3600,
      auth_time: now,
      nonce: entry.nonce,
      ...member,
    };
    const input = `${header}.${b64url(JSON.stringify(claims))}`;
    const signature = crypto.sign('sha256', Buffer.from(input), privateKey);
    const body = JSON.stringify({
      token_type: 'Bearer',
      expires_in: 3600,
      access_token: b64url(crypto.randomBytes(24)),
      scope: 'openid email profile',
      id_token: `${input}.${b64url(signature)}`,
    });
    send(res, 200, body, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' });
  }

  const handler = (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const p = url.pathname;
    if (req.method === 'GET' && p === `${base}/.well-known/openid-configuration`) {
      counts.discovery += 1;
      return send(res, 200, discovery, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' });
    }
    if (req.method === 'GET' && p === `${base}/v1/keys`) {
      counts.jwks += 1;
      return send(res, 200, jwks, { 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' });
    }
    if (req.method === 'GET' && p === `${base}/v1/authorize`) return authorize(res, url);
    if (req.method === 'POST' && p === `${base}/v1/token`) {
      return token(req, res).catch((e) => oauthError(res, 400, 'invalid_request', e.message));
    }
    if (p === `${base}/v1/userinfo`) {
      counts.userinfo += 1;
      return send(res, 200, JSON.stringify(member), { 'content-type': 'application/json' });
    }
    if (p === '/sso/assertion') {
      counts.portal += 1;
      return send(res, 200, 'ok', { 'content-type': 'text/plain' });
    }
    counts.notFound += 1;
    return send(res, 404, '{"error":"not_found"}', { 'content-type': 'application/json' });
  };
  const listening = await listen(handler);
  listening.server.keepAliveTimeout = 30_000;
  port = listening.port;
  const origin = `http://127.0.0.1:${port}`;
  issuer = `${origin}${base}`;
  discovery = JSON.stringify(discoveryDocument(issuer));

  return {
    port,
    origin,
    issuer,
    member,
    counts,
    errors,
    /** okta_domain / authorization_server_id for a tenant config (serverId other than ours → 404 discovery). */
    tenantFields: (id = serverId) => ({ okta_domain: `127.0.0.1:${port}`, authorization_server_id: id }),
    snapshot: () => ({ ...counts }),
    close: listening.close,
  };
}
