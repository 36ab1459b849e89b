// What a URL may keep (issue 22 §5): one function (publicUrl) decides it for the catalog's hrefs and
// links, the canonical link, the stac-ndjson export; the log scrubber masks the same parameters.
import { mkdtempSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { createDispatcher } from '../../src/api/dispatcher.js';
import { itemToAssets } from '../../src/api/stac/items.js';
import { itemRecord } from '../../src/api/stac/record.js';
import type { StacItem } from '../../src/api/stac/documents.js';
import { createLogger, scrubSecrets } from '../../src/lib/logger.js';
import { isSecretParam, publicUrl, publicUrlsIn, redactUrl } from '../../src/lib/url-safety.js';
import { buildCollection, buildItem } from '../../src/mirror/stac-catalog.js';
import { stacNdjsonLines } from '../../src/mirror/stac-export.js';
import type { CatalogStore, StoredItem } from '../../src/store/catalog-store.js';
import type { Job } from '../../src/store/types.js';
import { Secret } from '../../src/lib/secret.js';
import { startScripted } from '../helpers/stac-server.js';

const SIGNED = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeefcafe';
/** Every secret in this file, so that a test can say "none of them anywhere". */
const SECRETS = ['deadbeefcafe', 'AKIAEXAMPLE', 'tok-s3cr3t', 'hunter22', 'sas-sig-value', 'k3y-value'];

function expectNoSecret(text: string): void {
  for (const s of SECRETS) expect(text, s).not.toContain(s);
}

describe('publicUrl: what a URL may keep', () => {
  it('drops user info and every signature, expiry, token, key or credential parameter; keeps the rest', () => {
    expect(publicUrl(`https://bucket.s3.amazonaws.com/a/b.tif?${SIGNED}&versionId=3`)).toBe('https://bucket.s3.amazonaws.com/a/b.tif?versionId=3');
    expect(publicUrl('https://me:hunter22@api.example.com/v1/')).toBe('https://api.example.com/v1/');
    expect(publicUrl('https://tok-s3cr3t@git.example.com/x')).toBe('https://git.example.com/x');
    expect(publicUrl('https://docs.example.org/page?token=tok-s3cr3t&lang=en#top')).toBe('https://docs.example.org/page?lang=en#top');
    expect(publicUrl('https://acct.blob.core.windows.net/c/f.tif?sv=2022-11-02&se=2026-01-01T00%3A00%3A00Z&sr=b&sp=r&sig=sas-sig-value')).toBe('https://acct.blob.core.windows.net/c/f.tif?sv=2022-11-02&sr=b&sp=r');
    expect(publicUrl('https://x.example/f?api_key=k3y-value&Key-Pair-Id=K&Policy=P&Signature=S&Expires=1')).toBe('https://x.example/f');
    expect(publicUrl('https://x.example/cb#access_token=tok-s3cr3t&state=1')).toBe('https://x.example/cb#state=1');
    // Not http(s), and relative: the same rule, as strings.
    expect(publicUrl('s3://AKIAEXAMPLE:hunter22@bucket/key.tif?X-Amz-Signature=deadbeefcafe')).toBe('s3://bucket/key.tif');
    expect(publicUrl('./b.tif?sig=sas-sig-value&part=1')).toBe('./b.tif?part=1');
    expect(publicUrl('https://plain.example/a.tif')).toBe('https://plain.example/a.tif');
  });

  it('redactUrl masks the same parameters (and a password) instead of removing them', () => {
    expect(redactUrl('postgres://sync:hunter22@db:5432/x?sslmode=require&password=hunter22')).toBe('postgres://sync:***@db:5432/x?sslmode=require&password=***');
    expect(redactUrl(`https://s/a.tif?${SIGNED}`)).not.toMatch(/deadbeefcafe|AKIAEXAMPLE/);
  });

  it('the log scrubber masks exactly the parameters publicUrl removes', () => {
    const names = ['X-Amz-Signature', 'x-amz-credential', 'X-Goog-Signature', 'sig', 'se', 'token', 'access_token', 'id_token', 'api_key', 'apikey', 'password', 'sslpassword', 'Signature', 'Key-Pair-Id', 'Policy', 'Expires', 'key', 'code', 'client_secret', 'versionId', 'lang', 'part', 'sv', 'format', 'page'];
    for (const n of names) {
      const removed = !publicUrl(`https://h.example/p?${n}=v4lue`).includes('v4lue');
      const masked = !scrubSecrets(`GET https://h.example/p?${n}=v4lue failed`).includes('v4lue');
      expect({ n, masked }).toEqual({ n, masked: removed });
      expect({ n, removed }).toEqual({ n, removed: isSecretParam(n) });
    }
    expect(isSecretParam('versionId')).toBe(false);
    expect(isSecretParam('X-Amz-Security-Token')).toBe(true);
  });

  it('a log line keeps no token or signature parameter of a URL (today only some names were scrubbed)', () => {
    const lines: string[] = [];
    const log = createLogger({ destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) });
    log.warn({ err: 'GET https://s.example/a.tif?token=tok-s3cr3t&X-Goog-Signature=deadbeefcafe&se=2026-01-01: 403' }, 'storage refused https://x.example/f?Key-Pair-Id=K&Policy=k3y-value&sas=1&sig=sas-sig-value');
    expectNoSecret(lines.join(''));
    expect(lines.join('')).toContain('sas=1');
  });
});

function job(key: string, localPath: string): Job {
  return {
    id: 1, key, remoteModifiedMs: 1000, remoteSize: 3, remoteEtag: null, revision: 1, state: 'done', attempts: 1, runAt: 0,
    errorClass: null, errorStatus: null, errorMessage: null, localPath, localModifiedMs: 1000, bytesWritten: 3, sha256: 'ab'.repeat(32),
    updatedAt: 0, finishedAt: 0, mirrorPath: localPath, shortened: false, remoteDeletedAt: null, localRemoved: null,
  };
}

const item = {
  type: 'Feature', stac_version: '1.1.0', id: 'i1', collection: 'c1',
  geometry: { type: 'Point', coordinates: [1, 2] }, bbox: [1, 2, 1, 2],
  properties: { datetime: '2026-01-02T03:04:05Z', 'processing:software': { url: 'https://sw.example/tool?token=tok-s3cr3t' } },
  links: [
    { rel: 'license', href: 'https://example.org/license' },
    { rel: 'via', href: 'https://portal.example/order/1?token=tok-s3cr3t' },
    { rel: 'describedby', href: 'https://me:hunter22@docs.example/spec' },
  ],
  assets: {
    lst: {
      href: `https://storage.example/a.tif?${SIGNED}`, type: 'image/tiff', roles: ['data'],
      alternate: { s3: { href: 's3://bucket/a.tif?X-Amz-Signature=deadbeefcafe' }, https: { href: `https://mirror.example/a.tif?${SIGNED}`, title: 'https mirror' } },
    },
    thumb: { href: 'https://storage.example/t.png?sig=sas-sig-value', roles: ['thumbnail'] },
  },
};

describe('the catalog keeps no credential-bearing URL', () => {
  it('item JSON: nested alternate hrefs, token links, user info and the canonical link are public', () => {
    const apiBase = 'https://me:hunter22@api.example.com/';
    const assets = itemToAssets(item as unknown as StacItem, { assets: ['lst'], defaultCollection: null, cursorField: 'updated', cursorCapMs: null, baseUrl: apiBase });
    const rec = itemRecord(item as unknown as StacItem, assets, apiBase)!;
    expect(rec.apiUrl).toBe('https://api.example.com/stac/collections/c1/items/i1');
    const row: StoredItem = { ...rec, written: null, jsonPath: null, writtenExtent: null };
    const { text } = buildItem(row, [job(assets[0]!.key, assets[0]!.key)]);
    expectNoSecret(text);
    const doc = JSON.parse(text) as { links: { rel: string; href: string }[]; assets: Record<string, { alternate: Record<string, { href: string; title?: string }> }> };
    expect(doc.links).toEqual(
      expect.arrayContaining([
        { rel: 'canonical', href: 'https://api.example.com/stac/collections/c1/items/i1', type: 'application/geo+json' },
        { rel: 'via', href: 'https://portal.example/order/1' },
        { rel: 'describedby', href: 'https://docs.example/spec' },
        { rel: 'license', href: 'https://example.org/license' },
      ]),
    );
    expect(doc.assets.lst!.alternate).toEqual({ s3: { href: 's3://bucket/a.tif' }, https: { href: 'https://mirror.example/a.tif', title: 'https mirror' } });
  });

  it('a row stored before (canonical with user info) is written public too', () => {
    const row: StoredItem = {
      collection: 'c1', id: 'i1', raw: JSON.stringify(item), apiUrl: 'https://me:hunter22@api.example.com/stac/collections/c1/items/i1?api_key=k3y-value', written: null, jsonPath: null, writtenExtent: null,
      assets: [{ asset: 'lst', key: 'c1/i1/a.tif', version: 1000 }],
    };
    const { text } = buildItem(row, [job('c1/i1/a.tif', 'c1/i1/a.tif')]);
    expectNoSecret(text);
    expect(text).toContain('"href": "https://api.example.com/stac/collections/c1/items/i1"');
  });

  it('collection.json: links (not filtered before) and asset fields are public', () => {
    const doc = {
      id: 'c1', type: 'Collection', description: 'd', license: 'l',
      links: [{ rel: 'license', href: 'https://l.example/?token=tok-s3cr3t' }, { rel: 'about', href: 'https://me:hunter22@about.example/' }],
      providers: [{ name: 'p', url: 'https://p.example/?api_key=k3y-value' }],
      assets: { doc: { href: 'https://d.example/guide.pdf', alternate: { mirror: { href: 'https://m.example/guide.pdf?sig=sas-sig-value' } } } },
    };
    const text = buildCollection(doc, 'c1/collection.json', []);
    expectNoSecret(text);
    const c = JSON.parse(text) as { links: { rel: string; href: string }[] };
    expect(c.links).toEqual(expect.arrayContaining([{ rel: 'license', href: 'https://l.example/' }, { rel: 'about', href: 'https://about.example/' }]));
  });

  it('stac-ndjson: an item file written by an older version is exported public', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'url-safety-'));
    try {
      const onDisk = { ...item, links: [{ rel: 'canonical', href: 'https://me:hunter22@api.example.com/stac/collections/c1/items/i1' }, ...item.links], assets: { lst: { ...item.assets.lst, href: './a.tif' } } };
      await fsp.mkdir(path.join(root, 'c1', 'i1'), { recursive: true });
      await fsp.writeFile(path.join(root, 'c1', 'i1', 'i1.json'), JSON.stringify(onDisk));
      const row: StoredItem = { collection: 'c1', id: 'i1', raw: '{}', apiUrl: '', assets: [], written: 'x', jsonPath: 'c1/i1/i1.json', writtenExtent: null };
      const store = { listItems: async (after: unknown) => (after ? [] : [row]) } as unknown as CatalogStore;
      const lines: string[] = [];
      for await (const l of stacNdjsonLines(store, root)) lines.push(l);
      expect(lines).toHaveLength(1);
      expectNoSecret(lines[0]!);
      const out = JSON.parse(lines[0]!) as { links: { rel: string; href: string }[]; assets: { lst: { href: string } } };
      expect(out.links.find((l) => l.rel === 'canonical')!.href).toBe('https://api.example.com/stac/collections/c1/items/i1');
      expect(out.assets.lst.href).toBe('c1/i1/a.tif');
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  });

  it('publicUrlsIn leaves non-URL strings and numbers alone', () => {
    expect(publicUrlsIn({ a: 'token=x', b: 3, c: [null, 'https://h/?token=tok-s3cr3t'] })).toEqual({ a: 'token=x', b: 3, c: [null, 'https://h/'] });
  });
});

describe('siblings: errors that reach the state, the page and the terminal', () => {
  it('an HTTP error body that echoes a signed request is scrubbed before it becomes the job\'s error message', async () => {
    const storage = await startScripted();
    const dispatcher = createDispatcher({ connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, maxRedirects: 0, connections: 2 });
    try {
      storage.on('GET /b/a.tif', () => ({ status: 403, body: `<Error><Code>AccessDenied</Code><Resource>/b/a.tif?${SIGNED}&token=tok-s3cr3t</Resource></Error>` }));
      const client = new ApiClient({ baseUrl: storage.url, dispatcher, tokens: { get: async () => "unused", renew: async () => "unused" } as never });
      const e = (await client.downloadUrl(new URL(`${storage.url}b/a.tif`), 'GET k').catch((x: unknown) => x)) as Error;
      expect(e.message).toMatch(/HTTP 403/);
      expect(e.message).toContain('AccessDenied');
      expectNoSecret(e.message);
    } finally {
      await dispatcher.close();
      await storage.close();
    }
  });

  it('"no token endpoint" names api.url without its password', async () => {
    const api = await startScripted();
    const dispatcher = createDispatcher({ connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, maxRedirects: 0, connections: 2 });
    try {
      const tokens = new TokenManager({ baseUrl: api.url.replace('http://', 'http://me:hunter22@'), username: 'me', password: new Secret('hunter22'), dispatcher, encoding: 'json' });
      const e = (await tokens.get().catch((x: unknown) => x)) as Error;
      expect(e.message).toMatch(/no token endpoint there/);
      expectNoSecret(e.message);
    } finally {
      await dispatcher.close();
      await api.close();
    }
  });
});
