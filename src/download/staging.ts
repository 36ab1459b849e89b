// Staging: partial downloads live in <mirror>/.constellr-sync/staging under a stable name derived from
// (key, LastModified, Size), next to a small JSON record of what they are. The same filesystem as the
// mirror, so the final rename is atomic. A partial survives crashes and is resumed with Range.
import { createHash, randomUUID } from 'node:crypto';
import { promises as fsp, createReadStream, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { ListedSize } from '../lib/size.js';
import { RESERVED_DIR } from '../mirror/paths.js';

export const STAGING_DIR = path.join(RESERVED_DIR, 'staging');

export interface StagingRecord {
  key: string;
  lastModifiedMs: number;
  size: number;
  /** Validator of the bytes in the partial (ETag or Last-Modified of the response that wrote them). */
  validator: string | null;
  updatedAt: number;
  /**
   * A ranged download (sync.rangedThreshold): the partial is preallocated to its full size and these
   * ranges cover it; `done` bytes from each start are written and fsynced. Absent for a single-stream
   * partial, which is a gapless prefix.
   */
  parts?: StagedPart[];
}

/** One range of a ranged download: [start, end) of the object, `done` bytes from start durable. */
export interface StagedPart {
  start: number;
  end: number;
  done: number;
}

export function stagingDir(root: string): string {
  return path.join(root, STAGING_DIR);
}

export function stagingName(key: string, lastModifiedMs: number, size: ListedSize): string {
  // An unknown size hashes as -1, the name earlier versions gave it: their partials stay resumable.
  return createHash('sha256').update(`${key}\n${lastModifiedMs}\n${size ?? -1}`).digest('hex').slice(0, 40);
}

export interface StagingPaths {
  partial: string;
  record: string;
  name: string;
}

/** stagingDir of the last root asked for: one per process in practice (a path.join per file measured). */
let lastDir = { root: '', dir: '' };

export function stagingPaths(root: string, key: string, lastModifiedMs: number, size: ListedSize): StagingPaths {
  const name = stagingName(key, lastModifiedMs, size);
  if (lastDir.root !== root) lastDir = { root, dir: stagingDir(root) };
  // The name is hex: joined to the normalized folder as path.join would, without normalizing again.
  const { dir } = lastDir;
  return { name, partial: `${dir}${path.sep}${name}.partial`, record: `${dir}${path.sep}${name}.json` };
}

export async function readRecord(file: string): Promise<StagingRecord | null> {
  try {
    const r = JSON.parse(await fsp.readFile(file, 'utf8')) as StagingRecord;
    if (typeof r.key !== 'string' || typeof r.size !== 'number' || typeof r.lastModifiedMs !== 'number') return null;
    return r;
  } catch {
    return null;
  }
}

/**
 * Write the record atomically (tmp + rename); not fsynced unless `durable`: losing it only costs a
 * restart from 0. A ranged download's first record is durable, because the partial is preallocated
 * after it, and a full-length partial with no record of its parts must never pass for a complete one.
 */
export async function writeRecord(file: string, rec: StagingRecord, durable = false): Promise<void> {
  const tmp = `${file}.tmp`;
  if (!durable) {
    await fsp.writeFile(tmp, JSON.stringify(rec));
    await fsp.rename(tmp, file);
    return;
  }
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(rec));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  const dir = await fsp.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function removeStaging(p: StagingPaths): Promise<void> {
  await Promise.all([fsp.rm(p.partial, { force: true }), fsp.rm(p.record, { force: true }), fsp.rm(`${p.record}.tmp`, { force: true })]);
}

/** Feed the first `length` bytes of a file into a hash (to continue hashing a resumed partial). */
export async function hashPrefix(file: string, length: number, hash: ReturnType<typeof createHash>): Promise<void> {
  if (length === 0) return;
  await new Promise<void>((resolve, reject) => {
    const rs = createReadStream(file, { start: 0, end: length - 1, highWaterMark: 1 << 20 });
    rs.on('data', (c) => hash.update(c as Buffer));
    rs.on('error', reject);
    rs.on('end', resolve);
  });
}

export interface StagedEntry {
  name: string;
  record: StagingRecord | null;
  partialBytes: number | null;
}

/** Everything currently in staging, grouped by stable name. */
export async function listStaging(root: string): Promise<StagedEntry[]> {
  const dir = stagingDir(root);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const byName = new Map<string, StagedEntry>();
  for (const f of names) {
    const m = /^([0-9a-f]{40})\.(partial|json|claim)$/.exec(f);
    const name = m ? m[1]! : f;
    const e = byName.get(name) ?? { name, record: null, partialBytes: null };
    if (m?.[2] === 'json') e.record = await readRecord(path.join(dir, f));
    else if (m?.[2] === 'partial') e.partialBytes = (await fsp.stat(path.join(dir, f)).catch(() => null))?.size ?? null;
    byName.set(name, e);
  }
  return [...byName.values()];
}

/**
 * Remove every file belonging to a staging name, or a stray file with an unknown name. Exact names
 * only: a stray file called "a" must not take every "a…" partial (another replica's live ones) with it.
 */
export async function removeStagedName(root: string, name: string): Promise<void> {
  const dir = stagingDir(root);
  const own = new Set([name, `${name}.partial`, `${name}.json`, `${name}.json.tmp`, `${name}.claim`]);
  const entries = await fsp.readdir(dir).catch(() => [] as string[]);
  await Promise.all(entries.filter((f) => own.has(f)).map((f) => fsp.rm(path.join(dir, f), { force: true })));
}

/**
 * A cross-process claim on a staging name: `<name>.claim`, created with O_EXCL. Within one process the
 * worker's activeStaging set already keeps two workers apart; between replicas sharing a mirror, two
 * holders of one version can only meet after a lease expired (a hung or partitioned replica), and the
 * claim keeps the late one from truncating or renaming the partial the new owner writes. The holder
 * touches it on every heartbeat.
 *
 * A claim is owned by a process INSTANCE (a random id per process), not by host and pid: in containers
 * every daemon is PID 1 and replicas may share a hostname, so host+pid would make one replica take
 * another's live claim for its own leftover and delete the partial under it. A claim is stale (taken
 * over, the partial kept for resume) when it is a leftover of this very instance, when its holder is
 * provably dead (its pid is not alive in the SAME pid space: same boot of the same kernel and the
 * same pid namespace, so pids compare), or when it was not touched for `staleMs`.
 */
export interface StagingClaim {
  touch(): Promise<void>;
  release(): Promise<void>;
}

/** This process's identity for staging claims. */
export const INSTANCE_ID = randomUUID();

/**
 * Where pids of this process compare: Linux boot id + pid namespace; elsewhere the host name (no
 * containers sharing a hostname there). Null when not even that is known: pids are then never compared.
 */
export const PID_SPACE: string | null = (() => {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = readlinkSync('/proc/self/ns/pid');
    return `linux:${boot}:${ns}`;
  } catch {
    return process.platform === 'linux' ? null : `host:${hostname()}`;
  }
})();

/** What a claim file records about its holder. */
export interface ClaimHolder {
  instance: string;
  space: string | null;
  pid: number;
  host: string;
  token: string;
  at: string;
}

export function claimPath(p: StagingPaths): string {
  return p.partial.replace(/\.partial$/, '.claim');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The holder is provably gone: a dead pid in our pid space, or (own: 'stale') a claim of this very
 * instance, which only a caller holding the name in activeStaging may say.
 */
function holderGone(held: Partial<ClaimHolder>, own: 'live' | 'stale'): boolean {
  if (held.instance === INSTANCE_ID) return own === 'stale';
  if (typeof held.instance !== 'string') return false; // no instance id: judged by age alone
  if (PID_SPACE === null || held.space !== PID_SPACE || typeof held.pid !== 'number') return false;
  // Same pid space, another instance: our own pid means a previous life of this process's pid.
  return held.pid === process.pid || !pidAlive(held.pid);
}

/**
 * Whether a claim file has a live holder: it exists, its holder is not provably gone (see above),
 * and it was touched within `staleMs`. An unreadable claim is judged by its age, or counted as stale.
 * `own`: how a claim of this instance counts. Only claimStaging, which holds the name in
 * activeStaging, may call it stale; to anyone else (the sweeper) it may be a worker of this process
 * that started after it looked at activeStaging, so it is live.
 */
export interface ClaimCheck {
  staleMs: number;
  now: number;
  unreadable: 'age' | 'stale';
  own?: 'live' | 'stale';
}

export async function claimIsLive(file: string, o: ClaimCheck): Promise<boolean> {
  const { staleMs, now, unreadable, own = 'live' } = o;
  const st = await fsp.stat(file).catch(() => null);
  if (st === null) return false;
  try {
    const held = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<ClaimHolder>;
    if (holderGone(held, own)) return false;
  } catch {
    if (unreadable === 'stale') return false;
  }
  return now - st.mtimeMs <= staleMs;
}

export async function claimStaging(p: StagingPaths, o: { token: string; staleMs: number; now?: () => number }): Promise<StagingClaim | null> {
  const file = claimPath(p);
  const now = o.now ?? Date.now;
  const me: ClaimHolder = { instance: INSTANCE_ID, space: PID_SPACE, pid: process.pid, host: hostname(), token: o.token, at: new Date(now()).toISOString() };
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const create = async (): Promise<boolean> => {
    try {
      await fsp.writeFile(file, JSON.stringify(me), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  };
  if (!(await create())) {
    // An unreadable claim here is one whose writer died mid-write: take it over at once.
    const stale = !(await claimIsLive(file, { staleMs: o.staleMs, now: now(), unreadable: 'stale', own: 'stale' }));
    if (!stale) return null;
    await fsp.rm(file, { force: true });
    if (!(await create())) return null;
  }
  return {
    async touch() {
      const t = new Date(now());
      await fsp.utimes(file, t, t).catch(() => undefined);
    },
    async release() {
      try {
        const held = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<ClaimHolder>;
        if (held.token === o.token && held.instance === INSTANCE_ID) await fsp.rm(file, { force: true });
      } catch {
        /* already gone */
      }
    },
  };
}
