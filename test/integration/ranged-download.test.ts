// Parallel ranged downloads (issue 13 §2) against the simulator: a large file is fetched as N ranges
// into one preallocated partial; an interrupted attempt keeps its recorded parts and the next one
// fetches only what is missing; a server that ignores Range, or an If-Range that no longer matches,
// falls back to one stream of the whole object.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { AssetsSource } from '../../src/api/assets-source.js';
import type { Source } from '../../src/api/source.js';
import { Secret } from '../../src/lib/secret.js';
import { readRecord, stagingPaths } from '../../src/download/staging.js';
import { contentBytes, startSimulator, type Simulator } from '../../src/simulator/index.js';
import type { ClaimedJob } from '../../src/store/types.js';
import { splitParts } from '../../src/download/ranged.js';
import { transferToStaging } from '../../src/download/transfer.js';

const MiB = 1024 * 1024;
const KEY = 'orders/o-1/large.tif';
const L1 = Date.UTC(2026, 0, 10, 12, 0, 0);
const SIZE = 8 * MiB + 12345;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A source whose server ignores Range: every download is asked without it, so it answers 200. */
function ignoringRange(inner: Source): Source {
  return Object.assign(Object.create(inner) as Source, {
    download: (job: ClaimedJob, p: Parameters<Source['download']>[1]) => inner.download(job, { signal: p.signal }),
  });
}

async function setup(o: { ignoreRange?: boolean; streams?: number } = {}) {
  const sim: Simulator = await startSimulator({ adminPort: false, assets: [{ key: KEY, size: SIZE, lastModified: L1, seed: 'v1' }] });
  cleanups.push(() => sim.close());
  const dispatcher = new Agent({ connections: 8 });
  cleanups.push(() => dispatcher.close());
  const tokens = new TokenManager({ baseUrl: sim.url, username: sim.username, password: new Secret(sim.password), dispatcher, encoding: 'auto' });
  const base = new AssetsSource(new ApiClient({ baseUrl: sim.url, dispatcher, tokens }));
  const api = o.ignoreRange ? ignoringRange(base) : base;
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cs-ranged-'));
  cleanups.push(() => fsp.rm(root, { recursive: true, force: true }));
  const job: ClaimedJob = { id: 1, key: KEY, remoteModifiedMs: L1, remoteSize: SIZE, remoteEtag: null, revision: 0, attempts: 1, leaseToken: 't', leaseUntil: 0, localPath: null, locator: null };
  const staging = stagingPaths(root, KEY, L1, SIZE);
  const ranged = { threshold: 4 * MiB, streams: o.streams ?? 4 };
  const transfer = (onBytes?: (n: number) => void) => transferToStaging({ api, root, job, staging, signal: new AbortController().signal, onBytes, ranged });
  return { sim, staging, transfer };
}

describe('parallel ranged downloads', () => {
  it('splits [from, size) into nearly equal parts that cover it exactly', () => {
    expect(splitParts(0, 10, 4)).toEqual([
      { start: 0, end: 3, done: 0 },
      { start: 3, end: 6, done: 0 },
      { start: 6, end: 9, done: 0 },
      { start: 9, end: 10, done: 0 },
    ]);
    expect(splitParts(7, 10, 4).map((p) => [p.start, p.end])).toEqual([
      [7, 8],
      [8, 9],
      [9, 10],
    ]);
  });

  it('fetches N ranges into one preallocated partial and records every part done', async () => {
    const t = await setup();
    const r = await t.transfer();
    const want = contentBytes('v1', SIZE);
    expect(r.sha256).toBe(sha(want));
    expect(r.received).toBe(SIZE);
    expect(r.resumedFrom).toBe(0);
    expect(sha(await fsp.readFile(t.staging.partial))).toBe(sha(want));
    expect(t.sim.stats.downloadRequests).toBe(4);
    expect(t.sim.stats.statusCounts['206']).toBe(4);
    expect(t.sim.stats.bytesServed).toBe(SIZE);
    const rec = await readRecord(t.staging.record);
    expect(rec?.parts).toHaveLength(4);
    for (const p of rec!.parts!) expect(p.done).toBe(p.end - p.start);
  });

  it('an interrupted attempt keeps its recorded parts; the next fetches only the missing ranges', async () => {
    const t = await setup();
    let got = 0;
    await expect(
      t.transfer((n) => {
        got += n;
        if (got >= SIZE / 2) throw new Error('connection lost (test)');
      }),
    ).rejects.toThrow();
    const rec = await readRecord(t.staging.record);
    const kept = rec!.parts!.reduce((n, p) => n + p.done, 0);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(SIZE);
    // preallocated: the partial is as long as the object, but only the recorded parts count
    expect((await fsp.stat(t.staging.partial)).size).toBe(SIZE);
    t.sim.resetStats();
    const r = await t.transfer();
    expect(r.resumedFrom).toBe(kept);
    expect(r.received).toBe(SIZE - kept);
    expect(t.sim.stats.bytesServed).toBe(SIZE - kept);
    expect(r.sha256).toBe(sha(contentBytes('v1', SIZE)));
    expect(sha(await fsp.readFile(t.staging.partial))).toBe(r.sha256);
  });

  it('a complete ranged partial (a crash before the rename) is not fetched again', async () => {
    const t = await setup();
    const first = await t.transfer();
    t.sim.resetStats();
    const again = await t.transfer();
    expect(again.sha256).toBe(first.sha256);
    expect(again.received).toBe(0);
    expect(t.sim.stats.downloadRequests).toBe(0);
  });

  it('a server that ignores Range (200): one stream of the whole object', async () => {
    const t = await setup({ ignoreRange: true });
    const r = await t.transfer();
    expect(r.sha256).toBe(sha(contentBytes('v1', SIZE)));
    expect(r.received).toBe(SIZE);
    expect(sha(await fsp.readFile(t.staging.partial))).toBe(r.sha256);
    // the refused range and the single stream
    expect(t.sim.stats.downloadRequests).toBe(2);
    expect(t.sim.stats.statusCounts['206'] ?? 0).toBe(0);
    expect((await readRecord(t.staging.record))?.parts).toBeUndefined();
  });

  it('If-Range fails (the object changed): no splice of two versions, the new one is fetched whole', async () => {
    const t = await setup();
    let got = 0;
    await expect(
      t.transfer((n) => {
        got += n;
        if (got >= SIZE / 2) throw new Error('connection lost (test)');
      }),
    ).rejects.toThrow();
    expect((await readRecord(t.staging.record))!.parts!.some((p) => p.done > 0)).toBe(true);
    // same size and the same listed LastModified for the job, new content and validator on the server
    t.sim.inventory.put({ key: KEY, size: SIZE, lastModified: L1 + 60_000, seed: 'v2' });
    const r = await t.transfer();
    const v2 = contentBytes('v2', SIZE);
    expect(r.resumedFrom).toBe(0);
    expect(r.sha256).toBe(sha(v2));
    expect(sha(await fsp.readFile(t.staging.partial))).toBe(sha(v2));
  });

  it('rangedStreams 1 keeps one stream', async () => {
    const t = await setup({ streams: 1 });
    const r = await t.transfer();
    expect(r.sha256).toBe(sha(contentBytes('v1', SIZE)));
    expect(t.sim.stats.downloadRequests).toBe(1);
    expect(t.sim.stats.statusCounts['206'] ?? 0).toBe(0);
  });
});
