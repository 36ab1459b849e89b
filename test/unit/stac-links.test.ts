// Issue 22 item 10: one malformed link href never blocks its item. Links of items and collections are
// validated at the boundary (zod + URL.canParse, since `http://[x` passes `^https?://` and throws in
// `new URL`); a bad one is dropped with one warning (without its href, which may be signed), and the
// catalog builds the item from what is left, also from a state written before the boundary check.
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { ApiKeyAuth } from '../../src/api/api-key.js';
import { createDispatcher } from '../../src/api/dispatcher.js';
import { SyncError } from '../../src/errors.js';
import { StacSource } from '../../src/api/stac/stac-source.js';
import { parseFeatureCollection, parseItem, type DroppedLink, type StacLink } from '../../src/api/stac/documents.js';
import { parseCollectionDoc } from '../../src/api/stac/record.js';
import { createLogger } from '../../src/lib/logger.js';
import { Secret } from '../../src/lib/secret.js';
import { listPages } from '../../src/sync/listing.js';
import { buildCollection, buildItem } from '../../src/mirror/stac-catalog.js';
import type { StacItemRecord } from '../../src/api/wire.js';
import type { StoredItem } from '../../src/store/catalog-store.js';
import type { Job } from '../../src/store/types.js';
import { CONFORMANCE, featureCollection, item, startScripted, type ScriptedServer } from '../helpers/stac-server.js';

const BAD = 'http://[x';
const SIGNED_BAD = 'http://[x?X-Amz-Signature=deadbeefcafe';
const links = [
  { rel: 'license', href: 'https://example.org/license' },
  { rel: 'via', href: BAD },
  { rel: 'alternate', href: SIGNED_BAD },
  { rel: 'related' }, // no href
  { rel: 'describedby', href: '' },
  'not a link',
  { rel: 'derived_from', href: '../other/item.json' }, // relative: a URL reference, kept
];

describe('malformed link hrefs are dropped at the boundary', () => {
  it('a search page: the item is read, its bad links dropped and reported, good ones kept', () => {
    const dropped: DroppedLink[] = [];
    const page = parseFeatureCollection(featureCollection([{ ...item('it', { lst: 'https://s/b/L.tiff' }), links }]), 'POST /stac/search', (d) => dropped.push(d));
    expect(page.items).toHaveLength(1);
    const kept: StacLink[] | undefined = page.items[0]!.links;
    expect(kept?.map((l) => l.href)).toEqual(['https://example.org/license', '../other/item.json']);
    expect(dropped.map((d) => [d.owner, d.index, d.rel])).toEqual([
      ['item "it"', 1, 'via'],
      ['item "it"', 2, 'alternate'],
      ['item "it"', 3, 'related'],
      ['item "it"', 4, 'describedby'],
      ['item "it"', 5, null],
    ]);
    expect(JSON.stringify(dropped)).not.toContain('deadbeef');
    // the same for an item fetched alone, and for a collection document
    expect(parseItem({ ...item('it', { lst: 'https://s/b/L.tiff' }), links }, 'GET item').links).toHaveLength(2);
    const coll = parseCollectionDoc({ type: 'Collection', id: 'c1', links }, 'c1', 'GET /stac/collections/c1');
    expect((coll.links as { href: string }[]).map((l) => l.href)).toEqual(['https://example.org/license', '../other/item.json']);
  });

  it('the catalog builds an item whose stored raw JSON still holds a bad link (state from before the fix)', () => {
    const raw = { ...item('it', { lst: 'https://s/b/L.tiff' }), links: [{ rel: 'license', href: 'https://example.org/license' }, { rel: 'via', href: BAD }] };
    const row: StoredItem = { collection: 'lstprecision', id: 'it', raw: JSON.stringify(raw), apiUrl: 'https://api/stac/collections/lstprecision/items/it', written: null, jsonPath: null, writtenExtent: null, assets: [{ asset: 'lst', key: 'lstprecision/it/L.tiff', version: 1 }] };
    const job: Job = {
      id: 1, key: 'lstprecision/it/L.tiff', remoteModifiedMs: 1, remoteSize: 3, remoteEtag: null, revision: 1, state: 'done', attempts: 1, runAt: 0,
      errorClass: null, errorStatus: null, errorMessage: null, localPath: 'lstprecision/it/L.tiff', localModifiedMs: 1, bytesWritten: 3, sha256: '00'.repeat(32),
      updatedAt: 0, finishedAt: 0, mirrorPath: 'lstprecision/it/L.tiff', shortened: false, remoteDeletedAt: null, localRemoved: null,
    };
    const out = JSON.parse(buildItem(row, [job]).text) as { links: { href: string }[] };
    expect(out.links.map((l) => l.href)).toContain('https://example.org/license');
    expect(out.links.map((l) => l.href)).not.toContain(BAD);
    const coll = JSON.parse(buildCollection({ id: 'lstprecision', links: [{ rel: 'via', href: BAD }] }, 'lstprecision/collection.json', [])) as { links: { href: string }[] };
    expect(coll.links.map((l) => l.href)).not.toContain(BAD);
  });
});

describe('the STAC source with a malformed link', () => {
  let api: ScriptedServer;
  let dispatcher: ReturnType<typeof createDispatcher>;
  beforeEach(async () => {
    api = await startScripted();
    dispatcher = createDispatcher({ connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, maxRedirects: 5, connections: 4 });
    api.on('GET /stac/conformance', () => ({ json: CONFORMANCE }));
  });
  afterEach(async () => {
    await dispatcher.close();
    await api.close();
  });

  function source(): { src: StacSource; lines: Record<string, unknown>[] } {
    const lines: Record<string, unknown>[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const tokens = new ApiKeyAuth({ key: new Secret('sk-test-0123456789abcdef'), baseUrl: api.url, probePath: 'stac', dispatcher });
    const client = new ApiClient({ baseUrl: api.url, dispatcher, tokens, maxRedirects: 5 });
    const src = new StacSource(client, { collections: null, filter: null, bbox: null, datetime: null, assets: [], pageSize: 100, lookbackMs: 86_400_000 }, createLogger({ level: 'info', destination: dest }));
    return { src, lines };
  }

  it('lists the item (its record without the bad link), and warns once across polls, without the href', async () => {
    api.on('GET /stac/collections', () => ({ json: { collections: [{ id: 'lstprecision' }], links: [] } }));
    api.on('POST /stac/search', () => ({ json: featureCollection([{ ...item('it', { lst: 'https://s/b/L.tiff' }), links }]) }));
    const { src, lines } = source();
    const records: StacItemRecord[] = [];
    for (let poll = 0; poll < 3; poll++) {
      for await (const p of listPages({ api: src, after: null, pageSize: 100, retries: 0, retryMinMs: 1, what: 'test' })) records.push(...(p.records ?? []));
    }
    expect(records).toHaveLength(3);
    const raw = JSON.parse(records[0]!.raw) as { links: { href: string }[] };
    expect(raw.links.map((l) => l.href)).toEqual(['https://example.org/license', '../other/item.json']);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(5);
    expect(JSON.stringify(lines)).not.toContain('deadbeef');
  });

  it('a collections page whose next link is not a URL fails as bad_listing (not an internal TypeError)', async () => {
    api.on('GET /stac/collections', () => ({ json: { collections: [{ id: 'lstprecision' }], links: [{ rel: 'next', href: BAD }] } }));
    const { src } = source();
    const err = await src.beginPoll().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).errorClass).toBe('bad_listing');
  });
});
