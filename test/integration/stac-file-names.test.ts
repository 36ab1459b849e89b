// Issue 22 item 16: file names when the href's last path segment is opaque. Constellr names a download
// from Content-Disposition, else the answering URL's last path segment; its download script writes
// those names. The simulator serves opaque hrefs (knob opaqueHrefs: `<storage>/<bucket>/o/<object id>`,
// a new id for each version) with Content-Disposition (knob contentDisposition). constellr-sync must
// write the same names, keep a file's name across versions, and hold the catalog's hrefs to them.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { mirrorFiles, openStore, syncInProcess, tempDirs, type TempDirs } from '../helpers/harness.js';
import { STAC_KEY, isCatalogFile, startStacSim, verifyStacMirror } from '../helpers/stac.js';
import { catalogProblems } from '../helpers/stac-catalog.js';

const SEED = 1616;
const stacConfig = { source: 'stac' };
let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await sim?.close();
  await dirs?.cleanup();
});

/** The last path segment of every asset href the API serves now, per `<collection>/<id>/<asset key>`. */
async function servedHrefs(s: Simulator): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const res = await fetch(`${s.url}/stac/search`, { method: 'POST', headers: { 'X-Api-Key': STAC_KEY, 'Content-Type': 'application/json' }, body: JSON.stringify({ limit: 1000 }) });
  const page = (await res.json()) as { features: { id: string; collection: string; assets: Record<string, { href: string }> }[] };
  for (const f of page.features) for (const [k, a] of Object.entries(f.assets)) out.set(`${f.collection}/${f.id}/${k}`, new URL(a.href).pathname.split('/').at(-1)!);
  return out;
}

describe('file names from the server when hrefs are opaque', () => {
  it('names files as Content-Disposition does (the names the official script writes), byte-exact, with a valid catalog', async () => {
    sim = await startStacSim(SEED, 5, { maxSize: 8 * 1024 });
    sim.stac!.setKnobs({ opaqueHrefs: 'all' });
    const hrefs = await servedHrefs(sim);
    for (const seg of hrefs.values()) expect(seg, `seed ${SEED}`).toMatch(/^[0-9a-f]{32}$/);
    dirs = await tempDirs('stac-names');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r.counts).toMatchObject({ done: 15, failed: 0 });
    // every file at <collection>/<item id>/<the Content-Disposition name>, byte for byte, nothing else
    expect(await verifyStacMirror(dirs.mirror, sim.stac!), `seed ${SEED}`).toEqual([]);
    const files = [...(await mirrorFiles(dirs.mirror)).keys()].filter((f) => !isCatalogFile(f));
    for (const f of files) expect(path.posix.basename(f)).toMatch(/^LST(PRECISION|ZOOM|FUSION)_SBA0\d_[0-9A-Z]{8}_\d{8}T\d{6}Z_(LST|MASK|METADATA)\.(tiff|json)$/);
    // keys stay <collection>/<item id>/<asset key><ext>; the state records where each file went
    const s = openStore(dirs.state);
    try {
      for (const rec of sim.stac!.all())
        for (const a of rec.assets) {
          const job = (await s.getJob(`${rec.collection}/${rec.id}/${a.key}${a.mediaType === 'application/json' ? '.json' : '.tiff'}`))!;
          expect(job, `${rec.id}/${a.key}`).not.toBeNull();
          expect(job.localPath).toBe(`${rec.collection}/${rec.id}/${a.fileName}`);
        }
    } finally {
      s.close();
    }
    expect(await catalogProblems(dirs.mirror, sim.stac!)).toEqual([]);
  });

  it("a file keeps its name across versions, whatever the new version's href and header say", async () => {
    sim = await startStacSim(SEED, 2, { maxSize: 8 * 1024 });
    sim.stac!.setKnobs({ opaqueHrefs: 'all' });
    dirs = await tempDirs('stac-names-versions');
    await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    const before = await servedHrefs(sim);
    const [victim] = sim.stac!.all();
    sim.stac!.put({ collection: victim!.collection, id: victim!.id, updated: Date.now() - 5_000 });
    // the new version has a new object id, and now no Content-Disposition: asked again, the name would
    // be the id; the first version's name is kept
    sim.stac!.setKnobs({ contentDisposition: false });
    const after = await servedHrefs(sim);
    for (const a of victim!.assets) expect(after.get(`${victim!.collection}/${victim!.id}/${a.key}`)).not.toBe(before.get(`${victim!.collection}/${victim!.id}/${a.key}`));
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r.counts).toMatchObject({ done: 6, failed: 0 });
    expect(await verifyStacMirror(dirs.mirror, sim.stac!), `seed ${SEED}`).toEqual([]);
  });

  it('two assets the server gives the same name: the first keeps it, the other its key\'s name; a hostile name stays in its folder', async () => {
    sim = await startStacSim(SEED, 1, { maxSize: 4 * 1024 });
    sim.stac!.setKnobs({ opaqueHrefs: 'all' });
    const twin = sim.stac!.put({
      collection: 'lstzoom',
      id: 'TWIN_NAMES',
      assets: [
        { key: 'lst', fileName: 'SAME.tiff', mediaType: 'image/tiff', size: 700 },
        { key: 'mask', fileName: 'SAME.tiff', mediaType: 'image/tiff', size: 500 },
        { key: 'metadata', fileName: '..', mediaType: 'application/json', size: 300 },
      ],
    });
    dirs = await tempDirs('stac-names-twins');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig, concurrency: 1 });
    expect(r.counts).toMatchObject({ failed: 0 });
    const files = [...(await mirrorFiles(dirs.mirror)).entries()].filter(([f]) => f.startsWith('lstzoom/TWIN_NAMES/') && !isCatalogFile(f));
    const names = files.map(([f]) => path.posix.basename(f)).sort();
    // one of lst/mask got SAME.tiff, the other its key's name; metadata's ".." is refused: the href's id
    const seg = (await servedHrefs(sim)).get('lstzoom/TWIN_NAMES/metadata')!;
    expect(names.filter((n) => n !== seg).sort()).toEqual(['SAME.tiff', expect.stringMatching(/^(lst|mask)\.tiff$/)].sort());
    expect(names).toContain(seg);
    const sizes = Object.fromEntries(files.map(([f, size]) => [path.posix.basename(f), size]));
    const other = names.find((n) => /^(lst|mask)\.tiff$/.test(n))!;
    expect(sizes[other]).toBe(other === 'lst.tiff' ? 700 : 500);
    expect(sizes['SAME.tiff']).toBe(other === 'lst.tiff' ? 500 : 700);
    expect(twin.assets).toHaveLength(3);
  });

  it("without Content-Disposition the name is the URL's last path segment, as Constellr documents (and its script writes)", async () => {
    sim = await startStacSim(SEED, 2, { maxSize: 4 * 1024 });
    sim.stac!.setKnobs({ opaqueHrefs: 'all', contentDisposition: false });
    const hrefs = await servedHrefs(sim);
    dirs = await tempDirs('stac-names-nocd');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r.counts).toMatchObject({ done: 6, failed: 0 });
    const files = [...(await mirrorFiles(dirs.mirror)).keys()].filter((f) => !isCatalogFile(f)).sort();
    const want = [...hrefs.entries()].map(([k, seg]) => `${k.split('/').slice(0, 2).join('/')}/${seg}`).sort();
    expect(files).toEqual(want);
    for (const f of files) expect((await fsp.stat(path.join(dirs.mirror, f))).size).toBeGreaterThan(0);
  });
});
