// Configuration of sources and API keys: the key from CONSTELLR_API_KEY, _FILE or the systemd
// credential, never from the config file, redacted in describeConfig, logs and hook environments;
// `source` and the `stac` section with their defaults and validation.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncError } from '../../src/errors.js';
import { describeConfig, loadConfig, loadCredentials } from '../../src/config/load.js';
import { createLogger } from '../../src/lib/logger.js';
import { hookEnv } from '../../src/ops/notify.js';
import { tempDirs, type TempDirs } from '../helpers/harness.js';

let dirs: TempDirs;
beforeEach(async () => {
  dirs = await tempDirs('stac-config');
  await fsp.mkdir(dirs.root, { recursive: true });
});
afterEach(async () => {
  await dirs.cleanup();
});

const KEY = 'csk_live_abcdefghijklmnop';

describe('API key', () => {
  it('comes from CONSTELLR_API_KEY, then CONSTELLR_API_KEY_FILE, then the credential constellr-api-key', async () => {
    expect(loadCredentials({ CONSTELLR_API_KEY: KEY }).apiKey?.reveal()).toBe(KEY);
    const f = path.join(dirs.root, 'key');
    await fsp.writeFile(f, `${KEY}\n`);
    expect(loadCredentials({ CONSTELLR_API_KEY_FILE: f }).apiKey?.reveal()).toBe(KEY);
    const cd = path.join(dirs.root, 'creds');
    await fsp.mkdir(cd);
    await fsp.writeFile(path.join(cd, 'constellr-api-key'), KEY);
    expect(loadCredentials({ CREDENTIALS_DIRECTORY: cd }).apiKey?.reveal()).toBe(KEY);
    expect(loadCredentials({ CREDENTIALS_DIRECTORY: cd, CONSTELLR_API_KEY: 'other-key' }).apiKey?.reveal()).toBe('other-key');
    expect(loadCredentials({}).apiKey).toBeUndefined();
  });

  it('is refused in the config file, and masked wherever the configuration is shown', async () => {
    const f = path.join(dirs.root, 'c.yaml');
    await fsp.writeFile(f, `api:\n  apiKey: ${KEY}\n`);
    let err: unknown;
    try {
      loadConfig({ configFile: f, env: {}, cwd: dirs.root });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyncError);
    expect((err as Error).message).toMatch(/api.apiKey: secrets are not accepted in the file; use CONSTELLR_API_KEY/);
    expect((err as Error).message).not.toContain(KEY);
    const c = loadConfig({ env: { CONSTELLR_API_KEY: KEY }, cwd: dirs.root });
    const shown = JSON.stringify(describeConfig(c));
    expect(shown).not.toContain(KEY);
    expect(describeConfig(c).credentials).toMatchObject({ apiKey: '***' });
  });

  it('never reaches a log line or a hook environment; neither do pre-signed URL signatures', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ level: 'info', destination: sink as never, secrets: () => [KEY] });
    log.info({ headers: { 'x-api-key': KEY }, apiKey: KEY }, `request with X-Api-Key: ${KEY}`);
    log.warn(`GET https://s.example/b/f.tiff?X-Amz-Date=20260101T000000Z&X-Amz-Signature=deadbeefcafe&X-Amz-Credential=AKIA/x`);
    const all = lines.join('');
    expect(all).not.toContain(KEY);
    expect(all).not.toContain('deadbeefcafe');
    expect(all).not.toContain('AKIA');
    const env = hookEnv({ id: 1, sink: 'hook', attempts: 1, createdAt: 0, event: 'created', key: 'k', path: 'k', size: 1, lastModifiedMs: 0, sha256: null }, '/m', {
      CONSTELLR_API_KEY: KEY,
      CONSTELLR_API_KEY_FILE: '/run/key',
      PATH: '/bin',
    });
    expect(env.CONSTELLR_API_KEY).toBeUndefined();
    expect(env.CONSTELLR_API_KEY_FILE).toBeUndefined();
    expect(env.PATH).toBe('/bin');
  });
});

describe('source and stac settings', () => {
  it('default to the asset API; CONSTELLR_SYNC_SOURCE and --source choose STAC', () => {
    const d = loadConfig({ env: {}, cwd: dirs.root });
    expect(d.source).toBe('assets');
    expect(d.stac).toEqual({ collections: null, filter: null, bbox: null, datetime: null, assets: [], pageSize: 100, lookback: 30 * 86_400_000, catalog: true, geoparquet: true });
    expect(loadConfig({ env: { CONSTELLR_SYNC_SOURCE: 'stac' }, cwd: dirs.root }).source).toBe('stac');
    expect(loadConfig({ env: { CONSTELLR_SYNC_SOURCE: 'stac' }, flags: { source: 'assets' }, cwd: dirs.root }).source).toBe('assets');
    expect(() => loadConfig({ env: { CONSTELLR_SYNC_SOURCE: 'ftp' }, cwd: dirs.root })).toThrow(/source \(from CONSTELLR_SYNC_SOURCE\)/);
  });

  it('reads the STAC scope from the file and validates it', async () => {
    const f = path.join(dirs.root, 'c.yaml');
    await fsp.writeFile(
      f,
      [
        'source: stac',
        'stac:',
        '  collections: [lstprecision]',
        '  filter: {op: "=", args: [{property: "order:id"}, "ord-1234"]}',
        '  bbox: [5.9, 45.8, 10.5, 47.8]',
        '  assets: [lst, metadata]',
        '  lookback: 14d',
      ].join('\n'),
    );
    const c = loadConfig({ configFile: f, env: {}, cwd: dirs.root });
    expect(c.stac).toMatchObject({ collections: ['lstprecision'], filter: { op: '=', args: [{ property: 'order:id' }, 'ord-1234'] }, bbox: [5.9, 45.8, 10.5, 47.8], assets: ['lst', 'metadata'], lookback: 14 * 86_400_000 });
    await fsp.writeFile(f, 'stac:\n  filter: {args: []}\n');
    expect(() => loadConfig({ configFile: f, env: {}, cwd: dirs.root })).toThrow(/stac.filter.*CQL2-JSON object with an "op"/);
    await fsp.writeFile(f, 'stac:\n  bbox: [1, 2, 3]\n');
    expect(() => loadConfig({ configFile: f, env: {}, cwd: dirs.root })).toThrow(/stac.bbox.*4 or 6 numbers/);
  });
});

describe('metrics name the source', () => {
  it('constellr_sync_source_info carries the source and its strategy', async () => {
    const { SyncMetrics } = await import('../../src/ops/metrics.js');
    const m = new SyncMetrics({ defaultMetrics: false });
    let strategy = 'datetime';
    m.attach({ source: () => ({ source: 'stac', strategy }) });
    expect(await m.registry.metrics()).toContain('constellr_sync_source_info{source="stac",strategy="datetime"} 1');
    strategy = 'updated';
    const text = await m.registry.metrics();
    expect(text).toContain('constellr_sync_source_info{source="stac",strategy="updated"} 1');
    expect(text).not.toContain('strategy="datetime"');
  });
});
