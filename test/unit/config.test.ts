// Configuration loading: precedence flag > env > file > default, strict keys with messages naming
// the key, and secrets only from the environment or files (never the config file).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncError } from '../../src/errors.js';
import { loadConfig, loadCredentials } from '../../src/config/load.js';
import { REPO_ROOT, tempDirs, type TempDirs } from '../helpers/harness.js';

let dirs: TempDirs;
beforeEach(async () => {
  dirs = await tempDirs('config');
  await fsp.mkdir(dirs.root, { recursive: true });
});
afterEach(async () => {
  await dirs.cleanup();
});

async function yaml(text: string, name = 'config.yaml'): Promise<string> {
  const f = path.join(dirs.root, name);
  await fsp.writeFile(f, text);
  return f;
}

function configError(fn: () => unknown): SyncError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SyncError);
    expect((e as SyncError).kind).toBe('fatal');
    expect((e as SyncError).errorClass).toBe('config');
    return e as SyncError;
  }
  throw new Error('expected a configuration error');
}

describe('loadConfig precedence', () => {
  it('defaults when nothing is given', () => {
    const c = loadConfig({ env: {}, cwd: dirs.root });
    expect(c.sync.concurrency).toBe(4);
    expect(c.sync.lookback).toBe(3_600_000);
    expect(c.api.pageSize).toBe(1000);
    expect(c.api.url).toBe('https://api.constellr.com');
    expect(c.log.level).toBe('info');
    expect(c.sync.schedule).toBe('*/5 * * * *');
    expect(c.mirror.dir).toBe(path.join(dirs.root, 'constellr-mirror'));
  });

  it('flag > env > file > default, key by key', async () => {
    const file = await yaml('sync:\n  concurrency: 2\n  lookback: 30m\n  schedule: "0 * * * *"\napi:\n  pageSize: 200\n');
    const env = { CONSTELLR_SYNC_CONCURRENCY: '6', CONSTELLR_SYNC_LOOKBACK: '2h' };
    const flags = { concurrency: '9' };
    const c = loadConfig({ configFile: file, env, flags, cwd: dirs.root });
    expect(c.sync.concurrency).toBe(9); // flag
    expect(c.sync.lookback).toBe(2 * 3_600_000); // env over file
    expect(c.sync.schedule).toBe('0 * * * *'); // file over default
    expect(c.api.pageSize).toBe(200); // file
    expect(c.sync.maxAttempts).toBe(10); // default
    expect(c.sources['sync.concurrency']).toBe('--concurrency');
    expect(c.sources['sync.lookback']).toBe('CONSTELLR_SYNC_LOOKBACK');
    expect(c.sources['api.pageSize']).toBe(file);
    const noFlag = loadConfig({ configFile: file, env, cwd: dirs.root });
    expect(noFlag.sync.concurrency).toBe(6);
    const fileOnly = loadConfig({ configFile: file, env: {}, cwd: dirs.root });
    expect(fileOnly.sync.concurrency).toBe(2);
  });

  it('finds the file through CONSTELLR_SYNC_CONFIG, relative paths against cwd', async () => {
    await yaml('mirror:\n  dir: ./m\nstate:\n  dir: ./s\n');
    const c = loadConfig({ env: { CONSTELLR_SYNC_CONFIG: 'config.yaml' }, cwd: dirs.root });
    expect(c.mirror.dir).toBe(path.join(dirs.root, 'm'));
    expect(c.state.dir).toBe(path.join(dirs.root, 's'));
    expect(c.configFile).toBe('config.yaml');
  });

  it('every documented environment variable maps to its key', () => {
    const c = loadConfig({
      env: {
        CONSTELLR_API_URL: 'http://127.0.0.1:9/',
        CONSTELLR_SYNC_MIRROR_DIR: '/tmp/m',
        CONSTELLR_SYNC_STATE_DIR: '/tmp/s',
        CONSTELLR_SYNC_CONCURRENCY: '12',
        CONSTELLR_SYNC_SCHEDULE: '*/1 * * * *',
        CONSTELLR_SYNC_LOOKBACK: '90s',
        CONSTELLR_SYNC_LOG_LEVEL: 'trace',
        CONSTELLR_SYNC_PAGE_SIZE: '50',
      },
    });
    expect(c.api.url).toBe('http://127.0.0.1:9/');
    expect(c.mirror.dir).toBe('/tmp/m');
    expect(c.state.dir).toBe('/tmp/s');
    expect(c.sync.concurrency).toBe(12);
    expect(c.sync.schedule).toBe('*/1 * * * *');
    expect(c.sync.lookback).toBe(90_000);
    expect(c.log.level).toBe('trace');
    expect(c.api.pageSize).toBe(50);
  });

  it('the configuration is frozen', () => {
    const c = loadConfig({ env: {} });
    expect(Object.isFrozen(c.sync)).toBe(true);
  });

  it('is deeply frozen: writing a nested field throws', () => {
    const c = loadConfig({ env: {}, cwd: dirs.root });
    const w = (o: unknown, k: string, v: unknown) => () => {
      (o as Record<string, unknown>)[k] = v;
    };
    expect(w(c.sync, 'concurrency', 99)).toThrow(TypeError);
    expect(w(c.notify.webhook, 'timeout', 1)).toThrow(TypeError);
    expect(w(c.sync.bandwidth, 'fallback', 1)).toThrow(TypeError);
    expect(() => (c.filters.include as string[]).push('b/**')).toThrow(TypeError);
    expect(w(c, 'filter', () => true)).toThrow(TypeError);
    expect(c.sync.concurrency).toBe(4);
  });

  it('carries parsed values: durations in ms, sizes in bytes, the timetable, the compiled filter', async () => {
    const file = path.join(dirs.root, 'parsed.yaml');
    await fsp.writeFile(
      file,
      'sync:\n  retryBaseDelay: 90s\n  bandwidth: "Mon-Fri 08:00-18:00 2MiB/s; otherwise unlimited"\n  since: 2024-01-01T00:00:00Z\nmirror:\n  freeSpaceReserve: 1GiB\nfilters:\n  include: ["orders/**"]\n  exclude: ["**/*.tmp"]\n  minSize: 1KiB\n',
    );
    const c = loadConfig({ configFile: file, env: {}, cwd: dirs.root });
    expect(c.sync.retryBaseDelay).toBe(90_000);
    expect(c.mirror.freeSpaceReserve).toBe(1024 ** 3);
    expect(c.sync.bandwidth.source).toBe('Mon-Fri 08:00-18:00 2MiB/s; otherwise unlimited');
    expect(c.sync.bandwidth.rules[0]!.rate).toBe(2 * 1024 ** 2);
    const at = Date.parse('2024-06-01T00:00:00Z');
    expect(c.filter({ key: 'orders/a.tif', size: 2048, lastModifiedMs: at })).toBe(true);
    expect(c.filter({ key: 'orders/a.tmp', size: 2048, lastModifiedMs: at })).toBe(false);
    expect(c.filter({ key: 'other/a.tif', size: 2048, lastModifiedMs: at })).toBe(false);
    expect(c.filter({ key: 'orders/a.tif', size: 10, lastModifiedMs: at })).toBe(false);
    expect(c.filter({ key: 'orders/a.tif', size: 2048, lastModifiedMs: Date.parse('2023-12-31T00:00:00Z') })).toBe(false);
  });
});

describe('loadConfig errors name the key', () => {
  it('unknown keys, nested and top level', async () => {
    const f1 = await yaml('sync:\n  concurency: 3\n');
    expect(configError(() => loadConfig({ configFile: f1, env: {} })).message).toMatch(/sync\.concurency: unknown key/);
    const f2 = await yaml('workers: 3\n', 'top.yaml');
    expect(configError(() => loadConfig({ configFile: f2, env: {} })).message).toMatch(/workers: unknown key/);
  });

  it.each([
    ['sync:\n  concurrency: 0\n', /sync\.concurrency/],
    ['sync:\n  concurrency: lots\n', /sync\.concurrency/],
    ['sync:\n  lookback: forever\n', /sync\.lookback/],
    ['api:\n  url: not a url\n', /api\.url/],
    ['api:\n  pageSize: 5000\n', /api\.pageSize/],
    ['log:\n  level: chatty\n', /log\.level/],
    ['sync:\n  order: random\n', /sync\.order/],
    ['sync:\n  since: last tuesday\n', /sync\.since/],
    ['sync:\n  reconcileSchedule: nightly\n', /sync\.reconcileSchedule.*not a valid cron expression/],
    ['sync:\n  schedule: "61 * * * *"\n', /sync\.schedule.*not a valid cron expression/],
    ['api:\n  url: ftp://x\n', /api\.url.*must be an http\(s\) URL/],
    ['notify:\n  webhook:\n    url: file:///etc/passwd\n', /notify\.webhook\.url.*must be an http\(s\) URL/],
  ])('a bad value in the file: %j', async (text, re) => {
    const f = await yaml(text);
    const e = configError(() => loadConfig({ configFile: f, env: {} }));
    expect(e.message).toMatch(re);
    expect(e.message).toContain(f); // and where it came from
  });

  it('a bad value from the environment names the variable', () => {
    const e = configError(() => loadConfig({ env: { CONSTELLR_SYNC_CONCURRENCY: 'abc' } }));
    expect(e.message).toMatch(/sync\.concurrency \(from CONSTELLR_SYNC_CONCURRENCY\)/);
  });

  it('a bad flag value names the flag', () => {
    const e = configError(() => loadConfig({ env: {}, flags: { 'page-size': '0' } }));
    expect(e.message).toMatch(/api\.pageSize \(from --page-size\)/);
  });

  it('unreadable or invalid files', async () => {
    expect(configError(() => loadConfig({ configFile: path.join(dirs.root, 'missing.yaml'), env: {} })).message).toMatch(/cannot read config file/);
    const bad = await yaml('sync: [unclosed\n');
    expect(configError(() => loadConfig({ configFile: bad, env: {} })).message).toMatch(/not valid YAML/);
    const list = await yaml('- a\n- b\n', 'list.yaml');
    expect(configError(() => loadConfig({ configFile: list, env: {} })).message).toMatch(/mapping/);
  });
});

describe('secrets', () => {
  it('come from CONSTELLR_USERNAME / CONSTELLR_PASSWORD and are masked', () => {
    const c = loadConfig({ env: { CONSTELLR_USERNAME: 'me', CONSTELLR_PASSWORD: 'hunter2-secret' } });
    expect(c.credentials.username).toBe('me');
    expect(c.credentials.password?.reveal()).toBe('hunter2-secret');
    expect(JSON.stringify(c)).not.toContain('hunter2-secret');
    expect(String(c.credentials.password)).toBe('***');
  });

  it('*_FILE variables, trailing newline removed; the variable itself wins', async () => {
    const pw = path.join(dirs.root, 'pw');
    await fsp.writeFile(pw, 'from-file-secret\n');
    expect(loadCredentials({ CONSTELLR_PASSWORD_FILE: pw }).password?.reveal()).toBe('from-file-secret');
    expect(loadCredentials({ CONSTELLR_PASSWORD_FILE: pw, CONSTELLR_PASSWORD: 'direct' }).password?.reveal()).toBe('direct');
    const e = configError(() => loadCredentials({ CONSTELLR_PASSWORD_FILE: path.join(dirs.root, 'nope') }));
    expect(e.message).toMatch(/CONSTELLR_PASSWORD/);
    expect(e.message).toMatch(/ENOENT/);
  });

  it('$CREDENTIALS_DIRECTORY (systemd LoadCredential) when the variables are not set', async () => {
    const cd = path.join(dirs.root, 'creds');
    await fsp.mkdir(cd);
    await fsp.writeFile(path.join(cd, 'constellr-username'), 'svc-user\n');
    await fsp.writeFile(path.join(cd, 'constellr-password'), 'svc-pass');
    const c = loadCredentials({ CREDENTIALS_DIRECTORY: cd });
    expect(c.username).toBe('svc-user');
    expect(c.password?.reveal()).toBe('svc-pass');
    expect(loadCredentials({ CREDENTIALS_DIRECTORY: cd, CONSTELLR_USERNAME: 'env-user' }).username).toBe('env-user');
    expect(loadCredentials({ CREDENTIALS_DIRECTORY: path.join(dirs.root, 'empty') })).toEqual({ username: undefined, password: undefined });
  });

  it('settings whose names merely contain a secret word are not secrets', async () => {
    const f = await yaml('api:\n  tokenEncoding: form\n');
    expect(loadConfig({ configFile: f, env: {} }).api.tokenEncoding).toBe('form');
  });

  it('config.example.yaml loads as it is (it documents every key with its default)', () => {
    const example = path.join(REPO_ROOT, 'config.example.yaml');
    const c = loadConfig({ configFile: example, env: {}, cwd: dirs.root });
    const d = loadConfig({ env: {}, cwd: dirs.root });
    expect(c.sync).toEqual(d.sync);
    expect(c.api).toEqual(d.api);
    expect(c.log).toEqual(d.log);
  });

  it.each([
    ['api:\n  password: x\n', 'api.password'],
    ['password: x\n', 'password'],
    ['api:\n  username: me\n', 'api.username'],
    ['credentials:\n  token: abc\n', 'credentials'],
  ])('are rejected in the file: %j', async (text, key) => {
    const f = await yaml(text);
    const e = configError(() => loadConfig({ configFile: f, env: {} }));
    expect(e.message).toContain(`${key}: secrets are not accepted in the file`);
    expect(e.message).not.toMatch(/: x\b|abc/);
  });
});
