// Resume needs a validator (issue 11 §7). A partial is continued with Range only under If-Range: the
// strong ETag of the response that wrote it, else its Last-Modified date; with neither it restarts
// from byte 0. A 416 discards the partial and restarts instead of repeating the same range.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { AssetsSource } from '../../src/api/assets-source.js';
import { SyncError } from '../../src/errors.js';
import { Secret } from '../../src/lib/secret.js';
import { readRecord, stagingPaths } from '../../src/download/staging.js';
import { contentBytes, startSimulator, type Simulator } from '../../src/simulator/index.js';
import type { ClaimedJob } from '../../src/store/types.js';
import { resumeValidator, transferToStaging } from '../../src/download/transfer.js';

const MiB = 1024 * 1024;
const KEY = 'orders/o-1/scene.tif';
const L1 = Date.UTC(2026, 0, 10, 12, 0, 0);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(faults: { omitEtag?: boolean; omitLastModified?: boolean }, size = 2 * MiB) {
  const sim: Simulator = await startSimulator({ adminPort: false, assets: [{ key: KEY, size, lastModified: L1, seed: 'v1' }], faults });
  cleanups.push(() => sim.close());
  const dispatcher = new Agent({ connections: 4 });
  cleanups.push(() => dispatcher.close());
  const tokens = new TokenManager({ baseUrl: sim.url, username: sim.username, password: new Secret(sim.password), dispatcher, encoding: 'auto' });
  // The asset API as the source the worker downloads through.
  const api = new AssetsSource(new ApiClient({ baseUrl: sim.url, dispatcher, tokens }));
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cs-resume-'));
  cleanups.push(() => fsp.rm(root, { recursive: true, force: true }));
  // The job as listed before the change: version 1 (no listed ETag, as with storage that sends none).
  const job: ClaimedJob = { id: 1, key: KEY, remoteModifiedMs: L1, remoteSize: size, remoteEtag: null, revision: 0, attempts: 1, leaseToken: 't', leaseUntil: 0, localPath: null, locator: null };
  const staging = stagingPaths(root, KEY, L1, size);
  const transfer = (onBytes?: (n: number) => void) => transferToStaging({ api, root, job, staging, signal: new AbortController().signal, onBytes });
  /** A first attempt that stops after `cut` bytes, leaving a partial of version 1 and its record. */
  const interrupted = async (cut: number) => {
    let got = 0;
    await expect(
      transfer((n) => {
        got += n;
        if (got >= cut) throw new Error('connection lost (test)');
      }),
    ).rejects.toThrow();
    const st = await fsp.stat(staging.partial);
    expect(st.size).toBeGreaterThan(0);
    expect(st.size).toBeLessThan(size);
    return st.size;
  };
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  return { sim, api, job, staging, transfer, interrupted, sha, size };
}

describe('resume validators', () => {
  it('picks a strong ETag, else the Last-Modified date, else nothing', () => {
    expect(resumeValidator({ etag: '"abc"', lastModified: 'Sat, 10 Jan 2026 12:00:00 GMT' })).toBe('"abc"');
    expect(resumeValidator({ etag: 'W/"abc"', lastModified: 'Sat, 10 Jan 2026 12:00:00 GMT' })).toBe('Sat, 10 Jan 2026 12:00:00 GMT');
    expect(resumeValidator({ etag: null, lastModified: 'Sat, 10 Jan 2026 12:00:00 GMT' })).toBe('Sat, 10 Jan 2026 12:00:00 GMT');
    expect(resumeValidator({ etag: 'W/"abc"', lastModified: 'not a date' })).toBeNull();
    expect(resumeValidator({ etag: null, lastModified: null })).toBeNull();
  });

  it('no ETag: resumes under If-Range with the Last-Modified date, so a changed object is fetched whole', async () => {
    const t = await setup({ omitEtag: true });
    const have = await t.interrupted(MiB / 2);
    expect((await readRecord(t.staging.record))?.validator).toBe(new Date(L1).toUTCString());

    // Unchanged: the continuation is a 206 from where the partial ends.
    const same = await t.transfer();
    expect(same.resumedFrom).toBe(have);
    expect(same.sha256).toBe(t.sha(contentBytes('v1', t.size)));

    // Again, but the object changes (same size, new content and date) before the resume.
    await fsp.rm(t.staging.partial);
    const have2 = await t.interrupted(MiB / 2);
    t.sim.inventory.put({ key: KEY, size: t.size, lastModified: L1 + 60_000, seed: 'v2' });
    const r = await t.transfer();
    // If-Range did not match: a whole 200 of version 2, never version 1's prefix spliced onto it.
    expect(r.resumedFrom).toBe(0);
    expect(r.received).toBe(t.size);
    expect(have2).toBeGreaterThan(0);
    const v2 = contentBytes('v2', t.size);
    expect(r.sha256).toBe(t.sha(v2));
    expect(t.sha(await fsp.readFile(t.staging.partial))).toBe(t.sha(v2));
  });

  it('neither ETag nor Last-Modified: the partial is not resumed, the download restarts at byte 0', async () => {
    const t = await setup({ omitEtag: true, omitLastModified: true });
    await t.interrupted(MiB / 2);
    expect((await readRecord(t.staging.record))?.validator).toBeNull();
    t.sim.inventory.put({ key: KEY, size: t.size, lastModified: L1 + 60_000, seed: 'v2' });
    const r = await t.transfer();
    expect(r.resumedFrom).toBe(0);
    expect(r.received).toBe(t.size);
    const v2 = contentBytes('v2', t.size);
    expect(t.sha(await fsp.readFile(t.staging.partial))).toBe(t.sha(v2));
  });

  it('a 416 discards the partial and restarts instead of asking for the same range again', async () => {
    const t = await setup({ omitEtag: true });
    const have = await t.interrupted(1.5 * MiB);
    // The object shrinks below the partial within the same second: If-Range (a date) still matches,
    // so the server answers the range with 416.
    t.sim.inventory.put({ key: KEY, size: MiB, lastModified: L1, seed: 'v3' });
    expect(have).toBeGreaterThan(MiB);
    const before = t.sim.stats.downloadRequests;
    const e = await t.transfer().then(
      () => null,
      (x: unknown) => x,
    );
    // restarted from 0: the whole (smaller) object does not match the listed Size, so the job goes
    // back to the queue for the newer listing (size_mismatch), with nothing kept
    expect(e).toBeInstanceOf(SyncError);
    expect((e as SyncError).errorClass).toBe('size_mismatch');
    expect(t.sim.stats.downloadRequests - before).toBe(2);
    await expect(fsp.stat(t.staging.partial)).rejects.toThrow();
  });
});
