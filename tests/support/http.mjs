// HTTP client for the end-to-end tests: every request goes to 127.0.0.1 with the logical
// URL's host in the `Host` header (Node cannot resolve `*.localhost` reliably), redirects
// are never followed implicitly, and a per-host cookie jar plays the browser's part.

import http from 'node:http';

/** Hosts that browsers treat as potentially trustworthy over plain http. */
function isLoopbackHost(hostname) {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '127.0.0.1' || hostname === '[::1]';
}

/**
 * Parses one `Set-Cookie` header value (RFC 6265 §5.2, the parts a test needs).
 * Returns null for a header a browser would ignore.
 */
export function parseSetCookie(header) {
  const parts = header.split(';');
  const first = parts.shift();
  const eq = first.indexOf('=');
  if (eq <= 0) return null;
  const cookie = {
    name: first.slice(0, eq).trim(),
    value: first.slice(eq + 1).trim(),
    attributes: {},
    domain: null,
    path: null,
    expires: null,
    maxAge: null,
    secure: false,
    httpOnly: false,
    sameSite: null,
    raw: header,
  };
  for (const part of parts) {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? '' : part.slice(i + 1).trim();
    cookie.attributes[key] = val;
    if (key === 'domain' && val) cookie.domain = val.replace(/^\./, '').toLowerCase();
    else if (key === 'path' && val.startsWith('/')) cookie.path = val;
    else if (key === 'expires') {
      const t = Date.parse(val);
      if (!Number.isNaN(t)) cookie.expires = t;
    } else if (key === 'max-age' && /^-?\d+$/.test(val)) cookie.maxAge = Number(val);
    else if (key === 'secure') cookie.secure = true;
    else if (key === 'httponly') cookie.httpOnly = true;
    else if (key === 'samesite') cookie.sameSite = val.toLowerCase();
  }
  return cookie;
}

function defaultPath(pathname) {
  if (!pathname.startsWith('/')) return '/';
  const i = pathname.lastIndexOf('/');
  return i <= 0 ? '/' : pathname.slice(0, i);
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** A browser's cookie store, keyed by (domain, path, name); ports are ignored, as browsers do. */
export class CookieJar {
  constructor(name = 'jar') {
    this.name = name;
    this.cookies = [];
  }

  /** Stores the cookies of a response received from `url`. Returns the parsed cookies. */
  store(url, setCookieHeaders) {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    const stored = [];
    for (const header of setCookieHeaders ?? []) {
      const c = parseSetCookie(header);
      if (!c) continue;
      if (c.secure && u.protocol !== 'https:' && !isLoopbackHost(host)) continue;
      if (c.name.startsWith('__Host-') && (!c.secure || c.domain || c.path !== '/')) continue;
      if (c.name.startsWith('__Secure-') && !c.secure) continue;
      let hostOnly = true;
      let domain = host;
      if (c.domain && c.domain !== host) {
        if (!host.endsWith(`.${c.domain}`)) continue; // a host may not set cookies for another
        hostOnly = false;
        domain = c.domain;
      } else if (c.domain) {
        hostOnly = false;
      }
      const path = c.path ?? defaultPath(u.pathname);
      let expiresAt = null;
      if (c.maxAge !== null) expiresAt = Date.now() + c.maxAge * 1000;
      else if (c.expires !== null) expiresAt = c.expires;
      this.cookies = this.cookies.filter((o) => !(o.name === c.name && o.domain === domain && o.path === path));
      if (expiresAt !== null && expiresAt <= Date.now()) continue; // deletion
      const entry = { ...c, domain, hostOnly, path, expiresAt };
      this.cookies.push(entry);
      stored.push(entry);
    }
    return stored;
  }

  /** The cookies a browser would send to `url`. */
  matching(url) {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expiresAt === null || c.expiresAt > now);
    return this.cookies
      .filter((c) => (c.hostOnly ? c.domain === host : host === c.domain || host.endsWith(`.${c.domain}`)))
      .filter((c) => pathMatches(u.pathname || '/', c.path))
      .filter((c) => !c.secure || u.protocol === 'https:' || isLoopbackHost(host))
      .sort((a, b) => b.path.length - a.path.length);
  }

  header(url) {
    const list = this.matching(url);
    return list.length ? list.map((c) => `${c.name}=${c.value}`).join('; ') : null;
  }

  /** Cookies stored for a host name (no port). */
  forHost(hostname) {
    return this.cookies.filter((c) => c.domain === hostname.toLowerCase());
  }

  clear() {
    this.cookies = [];
  }

  clone(name = `${this.name}-copy`) {
    const j = new CookieJar(name);
    j.cookies = this.cookies.map((c) => ({ ...c }));
    return j;
  }
}

/**
 * One HTTP request, never following redirects. `url` is the logical URL (any host);
 * the TCP connection always goes to 127.0.0.1 on the URL's port.
 *
 * body: string | Buffer | URLSearchParams | object (sent as JSON).
 * Returns { status, headers, body (string), url, method, setCookies, json() }.
 */
export function request(url, { method = 'GET', headers = {}, body, jar, timeoutMs = 30_000, connectTo = '127.0.0.1' } = {}) {
  const u = new URL(url);
  const hdrs = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && v !== null) hdrs[k.toLowerCase()] = v;
  if (!hdrs.host) hdrs.host = u.host;
  let payload = null;
  if (body instanceof URLSearchParams) {
    payload = Buffer.from(body.toString());
    hdrs['content-type'] ??= 'application/x-www-form-urlencoded';
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    payload = Buffer.from(body);
  } else if (body !== undefined && body !== null) {
    payload = Buffer.from(JSON.stringify(body));
    hdrs['content-type'] ??= 'application/json';
  }
  // A caller asking for chunked transfer gets it (no Content-Length), as a streaming client sends.
  if (payload && !/chunked/i.test(hdrs['transfer-encoding'] ?? '')) hdrs['content-length'] = String(payload.length);
  if (jar && hdrs.cookie === undefined) {
    const c = jar.header(url);
    if (c) hdrs.cookie = c;
  }
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: connectTo, port, method, path: `${u.pathname}${u.search}`, headers: hdrs, setHost: false },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          const setCookies = res.headers['set-cookie'] ?? [];
          if (jar) jar.store(url, setCookies);
          const text = raw.toString('utf8');
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: text,
            raw,
            url,
            method,
            requestBody: body,
            requestHeaders: hdrs['content-type'] ? { 'content-type': hdrs['content-type'] } : undefined,
            setCookies,
            location: res.headers.location ? new URL(res.headers.location, url).href : null,
            json() {
              return JSON.parse(text);
            },
          });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request to ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Walks a redirect chain the way a browser does (302/303 → GET without body, 307/308
 * keep method and body), across hosts, with the jar. Stops at the first response that is
 * not a redirect, or — before requesting it — at the first hop for which
 * `stopBefore({ method, url })` is true (then `next` holds that hop), or after a response
 * for which `stopAfter(res)` is true.
 *
 * Returns { response, chain, next }.
 */
export async function follow(start, { jar, stopBefore, stopAfter, max = 20, headers = {} } = {}) {
  let res = start;
  const chain = [start];
  for (let i = 0; i < max; i += 1) {
    if (stopAfter && stopAfter(res)) return { response: res, chain, next: null };
    if (!REDIRECTS.has(res.status) || !res.location) return { response: res, chain, next: null };
    const keep = res.status === 307 || res.status === 308;
    const next = {
      method: keep ? res.method : 'GET',
      url: res.location,
      body: keep ? res.requestBody : undefined,
      headers: keep ? res.requestHeaders : undefined,
    };
    if (stopBefore && stopBefore(next)) return { response: res, chain, next };
    res = await send(next.url, { method: next.method, body: next.body, headers: { ...headers, ...(next.headers ?? {}) }, jar });
    chain.push(res);
  }
  throw new Error(`more than ${max} redirects: ${chain.map((r) => `${r.status} ${r.url}`).join(' → ')}`);
}

/** Alias of request(), kept for readability at call sites that walk chains. */
export const send = request;

/** Follows redirects until `predicate(res)` holds for a response; throws if the chain ends first. */
export async function followUntil(start, predicate, opts = {}) {
  const { response, chain } = await follow(start, { ...opts, stopAfter: predicate });
  if (!predicate(response)) {
    throw new Error(`redirect chain ended without reaching the expected response: ${describeChain(chain)}`);
  }
  return { response, chain };
}

export function describeChain(chain) {
  return chain.map((r) => `${r.method} ${r.url} → ${r.status}${r.location ? ` (${r.location})` : ''}`).join('\n  ');
}

export function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  if (!m) return null;
  return decodeEntities(m[1] ?? m[2] ?? m[3]);
}

/** Every <form> of an HTML page: { action, method, fields: URLSearchParams, id }. */
export function parseForms(html, baseUrl) {
  const forms = [];
  const re = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = re.exec(html))) {
    const tag = `<form ${m[1]}>`;
    const fields = new URLSearchParams();
    // As a browser submits: inputs (a checkbox or radio only when checked, "on" by default),
    // textareas with their text, selects with their selected (else first) option.
    const controls = /<input\b[^>]*>|<textarea\b([^>]*)>([\s\S]*?)<\/textarea>|<select\b([^>]*)>([\s\S]*?)<\/select>/gi;
    let c;
    while ((c = controls.exec(m[2]))) {
      if (c[0].toLowerCase().startsWith('<input')) {
        const input = c[0];
        const name = attr(input, 'name');
        if (name === null) continue;
        const type = (attr(input, 'type') ?? 'text').toLowerCase();
        if (type === 'submit' || type === 'button') continue;
        if ((type === 'checkbox' || type === 'radio') && !/\schecked\b/i.test(input)) continue;
        fields.append(name, attr(input, 'value') ?? (type === 'checkbox' || type === 'radio' ? 'on' : ''));
      } else if (c[1] !== undefined) {
        const name = attr(`<textarea ${c[1]}>`, 'name');
        if (name !== null) fields.append(name, decodeEntities(c[2]).replace(/^\n/, ''));
      } else {
        const name = attr(`<select ${c[3]}>`, 'name');
        if (name === null) continue;
        const options = [...c[4].matchAll(/<option\b([^>]*)>([\s\S]*?)<\/option>/gi)];
        const chosen = options.find((o) => /\sselected\b/i.test(o[1])) ?? options[0];
        if (chosen) fields.append(name, attr(`<option ${chosen[1]}>`, 'value') ?? decodeEntities(chosen[2]));
      }
    }
    const action = attr(tag, 'action');
    forms.push({
      id: attr(tag, 'id'),
      action: new URL(action ?? '', baseUrl).href,
      method: (attr(tag, 'method') ?? 'get').toUpperCase(),
      fields,
    });
  }
  return forms;
}

/**
 * The `Origin` a browser sends with a POST from `page` (a response): the page's origin, or
 * "null" when the page's Referrer-Policy is `no-referrer` (Chromium's behaviour, which SPEC's
 * handoff rule is about).
 */
export function browserOrigin(page) {
  const policy = String(page?.headers?.['referrer-policy'] ?? '').toLowerCase();
  return policy === 'no-referrer' ? 'null' : new URL(page.url).origin;
}

/**
 * Submits a form the way a browser would (POST form-encoded, or GET with a query). `origin`:
 * the Origin header a browser would send with the POST (see browserOrigin); none when absent.
 */
export async function submitForm(form, { jar, extra = {}, origin } = {}) {
  const fields = new URLSearchParams(form.fields);
  for (const [k, v] of Object.entries(extra)) fields.set(k, v);
  if (form.method === 'POST') {
    return send(form.action, { method: 'POST', body: fields, jar, headers: origin === undefined ? {} : { origin } });
  }
  const u = new URL(form.action);
  u.search = fields.toString();
  return send(u.href, { jar });
}

/** Visible text of an HTML page, tags stripped and entities decoded (for assertions). */
/** SPEC.md's words for member pages, which a page must contain verbatim in its raw HTML. */
export const SPEC_PHRASES = {
  expired: 'this sign-in link has expired \u2014 start again',
  accessDenied: 'your account is not assigned to this application \u2014 ask your administrator',
  unverified: "your identity provider's answer could not be verified",
  provisioningPending: 'we could not finish setting up your account \u2014 try again in a minute',
  signedOut: 'you are signed out',
};

/** Asserts that `html` (raw, not entity-decoded) contains SPEC.md's phrase `key`. */
export function assertSpecPhrase(html, key, what = key) {
  const phrase = SPEC_PHRASES[key];
  if (!phrase) throw new Error(`no SPEC phrase ${key}`);
  if (!html.includes(phrase)) throw new Error(`${what}: the page lacks SPEC's words "${phrase}"`);
}

export function pageText(html) {
  return decodeEntities(
    html
      .replace(/<script\b[\s\S]*?<\/script>/gi, ' ')
      .replace(/<style\b[\s\S]*?<\/style>/gi, ' ')
      .replace(/<[^>]+>/g, ' '),
  )
    .replace(/\s+/g, ' ')
    .trim();
}

/** Parses an `application/x-www-form-urlencoded` or JSON request body from node:http. */
export async function readBody(req, limit = 1 << 20) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves with a free TCP port on 127.0.0.1 chosen by the OS. */
export async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a node:http server on 127.0.0.1 (port 0 = any). Returns { server, port, close }. */
export async function listen(handler, port = 0) {
  const server = http.createServer(handler);
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    server,
    port: server.address().port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
