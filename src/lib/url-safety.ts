// What a URL may keep when it leaves the process (the STAC catalog, the stac-ndjson export, the
// state database, status output, log lines). One list of the query parameters that carry a
// credential, a signature or an expiry, and three uses of it: publicUrl() removes them (and any
// user:password@) from a URL that is kept, redactUrl() masks their values in a URL that is shown
// (database URLs: node-pg also takes `?password=`), and the log scrubber masks them in free text.

/** Parameter names (lower case) that are secret whatever their value looks like. */
const SECRET_NAMES = new Set([
  // AWS SigV2 / CloudFront, GCS v2, Azure SAS (signature, expiry and start, user delegation key)
  'signature', 'sig', 'se', 'st', 'skoid', 'sktid', 'skt', 'ske', 'sks', 'skv', 'awsaccesskeyid', 'googleaccessid',
  'policy', 'key-pair-id', 'expires', 'expiry', 'exp',
  // keys, tokens, passwords, codes (Azure Functions' ?code=), sessions
  'key', 'code', 'auth', 'session', 'sessionid', 'jwt', 'pwd', 'passwd', 'pass', 'sslpassword', 'sslkey',
]);

/** Prefixes of signed-URL parameter families (every X-Amz-* of a pre-signed S3 URL is part of it). */
const SECRET_PREFIXES = ['x-amz-', 'x-goog-', 'x-oss-', 'x-cos-', 'x-ms-'];

/** Fragments that make any parameter name secret: …token, …secret, password, api_key, …signature… */
const SECRET_PARTS = /token|secret|passw|signature|credential|api[-_]?key|access[-_]?key|private[-_]?key|expir/;

/** Whether a query parameter (by name, any letter case) carries a credential, signature or expiry. */
export function isSecretParam(name: string): boolean {
  const n = name.toLowerCase();
  return SECRET_NAMES.has(n) || SECRET_PREFIXES.some((p) => n.startsWith(p)) || SECRET_PARTS.test(n);
}

function decodedName(part: string): string {
  const raw = part.split('=')[0]!.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A query string (or fragment) without its secret parameters, other parameters as written. */
function filterParams(params: string, mask: boolean): string {
  return params
    .split('&')
    .flatMap((part) => {
      if (part === '' || !isSecretParam(decodedName(part))) return [part];
      return mask ? [`${part.split('=')[0]}=***`] : [];
    })
    .join('&');
}

/** Split `href` into (before the query, query without `?`, fragment without `#`). */
function partsOf(href: string): { base: string; query: string | null; hash: string | null } {
  const h = href.indexOf('#');
  const hash = h >= 0 ? href.slice(h + 1) : null;
  const noHash = h >= 0 ? href.slice(0, h) : href;
  const q = noHash.indexOf('?');
  return { base: q >= 0 ? noHash.slice(0, q) : noHash, query: q >= 0 ? noHash.slice(q + 1) : null, hash };
}

function rewrite(href: string, userinfo: (u: { username: string; password: string }) => void, mask: boolean): string {
  if (/^https?:/i.test(href)) {
    // The WHATWG parser, so that every spelling a client would accept (backslashes, odd slashes) is seen.
    let u: URL | null = null;
    try {
      u = new URL(href);
    } catch {
      u = null;
    }
    if (u) {
      const before = u.href;
      const who = { username: u.username, password: u.password };
      userinfo(who);
      u.username = who.username;
      u.password = who.password;
      if (u.search) u.search = filterParams(u.search.slice(1), mask);
      if (u.hash.includes('=')) u.hash = filterParams(u.hash.slice(1), mask);
      // Nothing to take out: the URL as it was written, not as the parser spells it.
      return u.href === before ? href : u.href;
    }
  }
  // Other schemes (s3://, postgres://) and relative hrefs: as strings.
  const { base, query, hash } = partsOf(href);
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/@]*)@/i.exec(base);
  let out = base;
  if (m) {
    const i = m[2]!.indexOf(':');
    const who = i >= 0 ? { username: m[2]!.slice(0, i), password: m[2]!.slice(i + 1) } : { username: m[2]!, password: '' };
    userinfo(who);
    const info = who.username || who.password ? `${who.username}${who.password ? `:${who.password}` : ''}@` : '';
    out = `${m[1]}${info}${base.slice(m[0].length)}`;
  }
  if (query !== null) {
    const kept = filterParams(query, mask);
    if (kept !== '') out += `?${kept}`;
  }
  if (hash !== null) {
    const kept = hash.includes('=') ? filterParams(hash, mask) : hash;
    if (kept !== '') out += `#${kept}`;
  }
  return out;
}

/**
 * The URL as it may be kept: no user info, no signature, expiry, token, key or credential parameter
 * (other parameters and the fragment as they were). A pre-signed URL loses its signature and so no
 * longer works: it names the object, it does not grant access to it.
 */
export function publicUrl(href: string): string {
  return rewrite(
    href,
    (u) => {
      u.username = '';
      u.password = '';
    },
    false,
  );
}

/**
 * The URL as it may be shown: a password in the user info and the value of every secret parameter
 * (`?password=`, `?sslpassword=`, signatures) replaced by `***`; everything else as it is.
 */
export function redactUrl(href: string): string {
  return rewrite(
    href,
    (u) => {
      if (u.password) u.password = '***';
    },
    true,
  );
}

/** Whether a string is (meant as) a URL with a scheme: `https://…`, `s3://…`. */
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A copy of a JSON value with publicUrl() applied to every `href` and every string that is a URL,
 * at any depth (links, asset fields such as `alternate.*.href`, providers, properties).
 */
export function publicUrlsIn<T>(value: T): T {
  const walk = (v: unknown, key: string | null): unknown => {
    if (typeof v === 'string') return key === 'href' || ABSOLUTE.test(v) ? publicUrl(v) : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, null));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(value, null) as T;
}

/**
 * Free text (a log line, an error message) with the value of every secret parameter masked:
 * `…?X-Amz-Signature=***`, `password=***`. The parameter list is publicUrl()'s.
 */
export function scrubParams(text: string): string {
  return text.replace(/(?<![\w.~%-])([A-Za-z][\w.~-]*)=([^&\s"'<>]+)/g, (all, name: string) => (isSecretParam(name) ? `${name}=***` : all));
}

/** A base URL that relative references resolve below, not beside: `https://h/api` → `https://h/api/`. */
export function withSlash(u: string): string {
  return u.endsWith('/') ? u : `${u}/`;
}
