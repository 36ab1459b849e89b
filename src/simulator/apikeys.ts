// Workspace API keys (`X-Api-Key`), as Constellr's 2026 documentation describes them: scoped to
// one workspace, expiring, revocable at once. 401 = invalid, expired or revoked; 403 = the key is
// valid but not authorised for the endpoint. Keys are held only as SHA-256 digests.
import { hash, timingSafeEqual } from 'node:crypto';

export interface ApiKeyInput {
  key: string;
  /** ISO 8601 or epoch ms; omitted/null = never expires. */
  expiresAt?: string | number | null;
  /** Collections the key may read through STAC; omitted/null = all. */
  collections?: string[] | null;
  /** May the key use the legacy /assets API (default true)? */
  assets?: boolean;
  /** May the key use the STAC API (default true)? */
  stac?: boolean;
}

export interface Principal {
  readonly kind: 'apiKey' | 'bearer';
  readonly collections: ReadonlySet<string> | null;
  readonly assets: boolean;
  readonly stac: boolean;
}

export const FULL_ACCESS: Principal = { kind: 'bearer', collections: null, assets: true, stac: true };

interface KeyRecord {
  digest: Buffer;
  /** First 6 hex digits of the digest: safe to show in admin listings. */
  id: string;
  expiresAtMs: number | null;
  revoked: boolean;
  collections: ReadonlySet<string> | null;
  assets: boolean;
  stac: boolean;
}

export type KeyCheck = { ok: true; principal: Principal } | { ok: false; detail: string };

function digest(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

export class ApiKeyRegistry {
  private readonly keys = new Map<string, KeyRecord>();

  get size(): number {
    return this.keys.size;
  }

  put(input: ApiKeyInput): { id: string } {
    if (typeof input?.key !== 'string' || input.key.length < 8 || input.key.length > 512 || !/^[\x21-\x7e]+$/.test(input.key)) {
      throw new TypeError('key must be 8-512 printable ASCII characters');
    }
    let expiresAtMs: number | null = null;
    if (input.expiresAt !== undefined && input.expiresAt !== null) {
      expiresAtMs = typeof input.expiresAt === 'number' ? input.expiresAt : Date.parse(input.expiresAt);
      if (!Number.isFinite(expiresAtMs)) throw new TypeError('expiresAt must be an ISO 8601 time or epoch ms');
    }
    if (input.collections != null && (!Array.isArray(input.collections) || !input.collections.every((c) => typeof c === 'string'))) {
      throw new TypeError('collections must be an array of collection ids');
    }
    const d = digest(input.key);
    const rec: KeyRecord = {
      digest: d,
      id: d.toString('hex').slice(0, 6),
      expiresAtMs,
      revoked: false,
      collections: input.collections ? new Set(input.collections) : null,
      assets: input.assets ?? true,
      stac: input.stac ?? true,
    };
    this.keys.set(d.toString('hex'), rec);
    return { id: rec.id };
  }

  /** Revoke by key or by its listed id; true when something was revoked. */
  revoke(keyOrId: string): boolean {
    let n = 0;
    const rec = this.keys.get(digest(keyOrId).toString('hex'));
    if (rec) {
      rec.revoked = true;
      n++;
    }
    for (const r of this.keys.values()) {
      if (r.id === keyOrId) {
        r.revoked = true;
        n++;
      }
    }
    return n > 0;
  }

  list(): Record<string, unknown>[] {
    return [...this.keys.values()].map((r) => ({
      id: r.id,
      expiresAt: r.expiresAtMs === null ? null : new Date(r.expiresAtMs).toISOString(),
      revoked: r.revoked,
      collections: r.collections ? [...r.collections] : null,
      assets: r.assets,
      stac: r.stac,
    }));
  }

  check(presented: string, nowMs: number): KeyCheck {
    const d = digest(presented);
    const rec = this.keys.get(d.toString('hex'));
    if (!rec || !timingSafeEqual(rec.digest, d)) return { ok: false, detail: 'Invalid API key' };
    if (rec.revoked) return { ok: false, detail: 'API key has been revoked' };
    if (rec.expiresAtMs !== null && nowMs >= rec.expiresAtMs) return { ok: false, detail: 'API key has expired' };
    return { ok: true, principal: { kind: 'apiKey', collections: rec.collections, assets: rec.assets, stac: rec.stac } };
  }
}
