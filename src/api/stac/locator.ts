// The job locator: what the STAC source keeps with a job (jobs.locator) to find its bytes again.
// One type, one parser, one printer; nothing else reads or writes the stored form.
//
// The stored form stays the compact JSON `{c,i,a,h,x,s,n?}` that every state database already holds,
// so there is no migration: the store blanks a settled job's URL in SQL by these member names
// (store/sql/dialect.ts `settledLocator`: h → "", x → 0; issue 22 §6), and PostgreSQL hands the
// blanked text back re-serialised by jsonb (other member order, spaces). The parser reads every form
// ever written: without `n` (before issue 22 §16), with it, and blanked.

/** Where one job's bytes are in the STAC API. */
export interface Locator {
  collection: string;
  item: string;
  /** The asset key within the item. */
  asset: string;
  /** The (pre-signed) href as listed; null once the job settled and the store blanked it. */
  href: string | null;
  /** When the href stops working, epoch ms, when the URL says so. */
  expiresAt: number | null;
  /** Hex SHA-256 from a sha2-256 file:checksum, to verify the bytes against. */
  sha256: string | null;
  /**
   * The href's path names no file (an opaque object id, or no path): the key ends in the asset key and
   * the server names the file at the first download (Content-Disposition).
   */
  namedByServer: boolean;
}

/** The stored form (jobs.locator), member names as the store's SQL knows them. */
export interface StoredLocator {
  c: string;
  i: string;
  a: string;
  /** "" once blanked */
  h: string;
  /** 0 once blanked */
  x: number | null;
  s: string | null;
  n?: true;
}

/** A job whose locator is missing or unreadable: a state problem, not a malformed response. */
export class LocatorError extends Error {}

const SHA256 = /^[0-9a-f]{64}$/;

const isString = (v: unknown): v is string => typeof v === 'string';

function jsonObject(text: string | null): Partial<Record<keyof StoredLocator, unknown>> | null {
  try {
    const o = JSON.parse(text ?? 'null') as unknown;
    return typeof o === 'object' && o !== null && !Array.isArray(o) ? o : null;
  } catch {
    return null;
  }
}

/** The job's locator, validated; throws LocatorError naming the job. */
export function parseLocator(text: string | null, key: string): Locator {
  const o = jsonObject(text);
  if (o === null || !isString(o.c) || !isString(o.i) || !isString(o.a) || !isString(o.h))
    throw new LocatorError(`job ${JSON.stringify(key)} has no STAC locator (was it listed by another source? set source: stac only on a fresh state)`);
  const x = o.x ?? null;
  const s = o.s ?? null;
  const n = o.n ?? false;
  if ((x !== null && !Number.isFinite(x)) || (s !== null && !(isString(s) && SHA256.test(s))) || typeof n !== 'boolean')
    throw new LocatorError(`job ${JSON.stringify(key)} has a malformed STAC locator`);
  const blanked = o.h === '';
  return {
    collection: o.c,
    item: o.i,
    asset: o.a,
    href: blanked ? null : o.h,
    expiresAt: blanked ? null : (x as number | null),
    sha256: s,
    namedByServer: n,
  };
}

/** The stored form of a locator; a locator without href prints as the store blanks it. */
export function printLocator(l: Locator): string {
  const stored: StoredLocator = { c: l.collection, i: l.item, a: l.asset, h: l.href ?? '', x: l.href === null ? 0 : l.expiresAt, s: l.sha256 };
  if (l.namedByServer) stored.n = true;
  return JSON.stringify(stored);
}
