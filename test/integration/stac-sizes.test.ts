// Issue 22 item 12: sizes that the listing omits (STAC assets without file:size, stored as -1) never
// sum to negative totals. Unknown stays unknown ("size unknown for N assets") in `status`, `status
// --json` (bytesListed, sizeUnknown) and `dry-run`; bytes downloaded (`sync --json` "bytes", bytesDone)
// are counted from what was written.
import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { runCli, tempDirs, type TempDirs } from '../helpers/harness.js';
import { STAC_KEY, expectedStacFiles, startStacSim, verifyStacMirror } from '../helpers/stac.js';

const SEED = 1212;
let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await sim?.close();
  await dirs?.cleanup();
});

describe('sizes the STAC listing omits', () => {
  it('status, status --json, dry-run and sync --json never show negative bytes; unknown stays unknown until written', async () => {
    sim = await startStacSim(SEED, 4, { maxSize: 16 * 1024 });
    sim.stac!.setKnobs({ fileSize: 'none' });
    dirs = await tempDirs('stac-sizes');
    const want = await expectedStacFiles(sim.stac!);
    const total = [...want.values()].reduce((a, f) => a + f.size, 0);
    const n = want.size;
    expect(n, `seed ${SEED}`).toBe(12);
    const env = { CONSTELLR_API_KEY: STAC_KEY, CONSTELLR_SYNC_SOURCE: 'stac', CONSTELLR_SYNC_CONFIG: '' };
    const flags = ['--api-url', sim.url, '--state-dir', dirs.state, '--mirror-dir', dirs.mirror];

    const plan = await runCli(['sync', '--dry-run', ...flags], { env });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).not.toMatch(/-\d+(\.\d+)? (B|KiB|MiB)/);
    expect(plan.stdout).toMatch(new RegExp(`total to download: 0 B \\(size unknown for ${n} assets\\)`));

    // one file, then the cap: the rest stays queued with no known size
    const first = await runCli(['sync', '--json', '--concurrency', '1', '--max-transfer', '1', ...flags], { env });
    expect(first.code, first.stderr).toBe(5);
    const s1 = JSON.parse(first.stdout) as { downloaded: number; bytes: number };
    expect(s1.downloaded).toBeGreaterThan(0);
    expect(s1.downloaded).toBeLessThan(n);
    const status1 = JSON.parse((await runCli(['status', '--json', ...flags], { env })).stdout) as { assets: { bytesListed: number; bytesDone: number; sizeUnknown: number } };
    expect(status1.assets.sizeUnknown).toBe(n - s1.downloaded);
    expect(status1.assets.bytesDone).toBe(s1.bytes);
    expect(status1.assets.bytesListed).toBe(s1.bytes);
    const text1 = await runCli(['status', ...flags], { env });
    expect(text1.stdout.split('\n')[0]).toMatch(new RegExp(`listed \\(size unknown for ${n - s1.downloaded} assets?\\);`));
    expect(text1.stdout).not.toMatch(/-\d+(\.\d+)? (B|KiB|MiB)/);
    // Issue 26 §3: the per-key sizes say null, never -1 (the export manifest, the dry run's items).
    const manifest = await runCli(['export', '--format', 'jsonl', ...flags], { env });
    expect(manifest.code, manifest.stderr).toBe(0);
    const rows = manifest.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state: string; size: number | null });
    expect(rows.filter((r) => r.state === 'queued').map((r) => r.size)).toEqual(Array(n - s1.downloaded).fill(null));
    expect(rows.filter((r) => r.state === 'done').every((r) => r.size !== null && r.size >= 0)).toBe(true);
    const csv = await runCli(['export', '--format', 'csv', ...flags], { env });
    expect(csv.stdout).not.toMatch(/,-1,/);
    const plan1 = JSON.parse((await runCli(['sync', '--dry-run', '--json', ...flags], { env })).stdout) as { items: { size: number | null }[]; totalSizeUnknown: number };
    expect(plan1.items.map((i) => i.size)).toEqual(Array(n - s1.downloaded).fill(null));
    expect(plan1.totalSizeUnknown).toBe(n - s1.downloaded);

    const rest = await runCli(['sync', '--json', ...flags], { env });
    expect(rest.code, rest.stderr).toBe(0);
    const s2 = JSON.parse(rest.stdout) as { downloaded: number; bytes: number };
    expect(s2.downloaded).toBe(n - s1.downloaded);
    // bytes downloaded: what was written, never 0 for unknown sizes
    expect(s1.bytes + s2.bytes).toBe(total);
    expect(await verifyStacMirror(dirs.mirror, sim.stac!)).toEqual([]);
    const status2 = JSON.parse((await runCli(['status', '--json', ...flags], { env })).stdout) as { assets: { bytesListed: number; bytesDone: number; sizeUnknown: number } };
    expect(status2.assets).toMatchObject({ bytesListed: total, bytesDone: total, sizeUnknown: 0 });
    const text2 = await runCli(['status', ...flags], { env });
    expect(text2.stdout).not.toMatch(/size unknown/);
  });
});
