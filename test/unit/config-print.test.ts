// `config check` prints the effective configuration as YAML in the file's own units; fed back as a
// file it must load to the same configuration. The test walks the whole schema (by the kinds its
// helpers declare), so a key added later is covered without editing this file.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configAsFile, describeConfig, loadConfig, type Config } from '../../src/config/load.js';
import { diffConfig } from '../../src/daemon/reload.js';
import { durationSetting, editDistance, schemaLeaves, sizeSetting, suggestKey } from '../../src/config/describe.js';
import { parseDuration, parseSize } from '../../src/config/duration.js';
import type { FieldKind } from '../../src/config/schema.js';
import { REPO_ROOT, tempDirs, type TempDirs } from '../helpers/harness.js';

let dirs: TempDirs;
beforeEach(async () => {
  dirs = await tempDirs('config-print');
  await fsp.mkdir(dirs.root, { recursive: true });
});
afterEach(async () => {
  await dirs.cleanup();
});

const strip = (c: Config) => {
  const { sources: _s, written: _w, configFile: _f, credentials: _c, ...rest } = c;
  return JSON.parse(JSON.stringify(rest)) as unknown;
};

function setPath(o: Record<string, unknown>, dotted: string, v: unknown): void {
  const parts = dotted.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts[parts.length - 1]!] = v;
}

/** A value of each kind unlike any default, in awkward units (so a printer that rounds or loses a unit fails). */
const VARIED: Partial<Record<FieldKind, unknown[]>> = {
  duration: ['1m30s500ms', '36h', '2w'],
  size: ['3MiB', '1000005', '5GB'],
  countOrPercent: ['25%', 37, '12.5%'],
  date: ['2024-02-03T04:05:06.007Z'],
  url: ['http://127.0.0.1:8080/api/', 'postgres://u@127.0.0.1:5432/db'],
};

async function roundTrip(raw: Record<string, unknown>): Promise<void> {
  const src = path.join(dirs.root, 'in.yaml');
  await fsp.writeFile(src, YAML.stringify(raw));
  const first = loadConfig({ configFile: src, env: {}, cwd: dirs.root });
  const printed = path.join(dirs.root, 'printed.yaml');
  await fsp.writeFile(printed, YAML.stringify(configAsFile(first)));
  const second = loadConfig({ configFile: printed, env: {}, cwd: dirs.root });
  expect(strip(second)).toEqual(strip(first));
}

describe('config printing round-trips', () => {
  it('the defaults of every key', async () => {
    await roundTrip({});
  });

  it('a non-default value of every tagged key, key by key, across the whole schema', async () => {
    const leaves = schemaLeaves();
    expect(leaves.length).toBeGreaterThan(40);
    const raw: Record<string, unknown> = {};
    let varied = 0;
    for (const leaf of leaves) {
      for (const v of VARIED[leaf.kind!] ?? []) {
        const trial = structuredClone(raw);
        setPath(trial, leaf.path, v);
        // Keep a value only if the schema accepts it for this key (ranges, URL schemes).
        try {
          const p = path.join(dirs.root, 'trial.yaml');
          await fsp.writeFile(p, YAML.stringify(trial));
          loadConfig({ configFile: p, env: {}, cwd: dirs.root });
        } catch {
          continue;
        }
        setPath(raw, leaf.path, v);
        varied++;
        await roundTrip(raw);
      }
    }
    // durations, sizes, maxDelete, since, URLs: dozens of keys exercised
    expect(varied).toBeGreaterThan(30);
  });

  it('`config check` output, saved as a file, loads to the same effective configuration', async () => {
    const src = path.join(dirs.root, 'cfg.yaml');
    await fsp.writeFile(
      src,
      'api:\n  connectTimeout: 10s\n  minDownloadRate: 100KiB\nmirror:\n  dir: ./m\n  maxDelete: 5%\n  freeSpaceReserve: 1GB\nsync:\n  lookback: 90m\n  since: 2024-01-01T00:00:00Z\n  reconcileSchedule: "off"\n  bandwidth: 10MiB/s\nstate:\n  dir: ./s\n',
    );
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/cli/main.js'), 'config', 'check', '-c', src], { cwd: dirs.root, encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('connectTimeout: 10s');
    expect(r.stdout).toContain('freeSpaceReserve: 1GB');
    expect(r.stdout).toContain('maxDelete: 5%');
    // durations keep the units they were written in
    expect(r.stdout).toContain('lookback: 90m');
    const printed = path.join(dirs.root, 'printed.yaml');
    await fsp.writeFile(printed, r.stdout);
    const a = loadConfig({ configFile: src, env: {}, cwd: dirs.root });
    const b = loadConfig({ configFile: printed, env: {}, cwd: dirs.root });
    expect(strip(b)).toEqual(strip(a));
    expect(b.api.connectTimeout).toBe(10_000);
  });

  it('durations and sizes print in exact units', () => {
    for (const ms of [0, 1, 999, 1000, 10_000, 59_999, 60_000, 90_500, 3_600_000, 86_400_000 + 1, 604_800_000 * 3]) expect(parseDuration(durationSetting(ms))).toBe(ms);
    expect(durationSetting(10_000)).toBe('10s');
    expect(durationSetting(90_000)).toBe('1m30s');
    for (const b of [0, 1, 1023, 1024, 65_536, 268_435_456, 10 ** 9, 1_000_005]) expect(parseSize(sizeSetting(b) as string)).toBe(b);
    expect(sizeSetting(268_435_456)).toBe('256MiB');
    expect(sizeSetting(65_536)).toBe('64KiB');
  });
});

/** `config check` on a file (stdout), with a clean environment. */
function configCheck(file: string, extra: string[] = [], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/cli/main.js'), 'config', 'check', '-c', file, ...extra], { cwd: dirs.root, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** The keys listed under "values not at their default". */
const notAtDefault = (stdout: string) => {
  const at = stdout.indexOf('# values not at their default');
  return at < 0 ? [] : [...stdout.slice(at).matchAll(/^# {3}([\w.]+): /gm)].map((m) => m[1]);
};

describe('config check: values not at their default, units as written (issue 25 item 7)', () => {
  it('lists only keys whose value differs from the default; fed back in, it lists the same keys', async () => {
    const src = path.join(dirs.root, 'cfg.yaml');
    // at their default: sync.concurrency 4, log.level info, http.enabled true, source assets, the mirror dir
    await fsp.writeFile(src, 'source: assets\nsync:\n  concurrency: 4\n  lookback: 36h\nlog:\n  level: info\nhttp:\n  enabled: true\nmirror:\n  dir: ./constellr-mirror\n  maxDelete: 5%\n');
    const first = configCheck(src, ['--http-listen', '127.0.0.1:9464', '--page-size', '250'], { CONSTELLR_SYNC_LOG_LEVEL: 'info', CONSTELLR_SYNC_ORDER: 'oldest-first' });
    expect(notAtDefault(first)).toEqual(['api.pageSize', 'mirror.maxDelete', 'sync.lookback', 'sync.order']);
    expect(first).toMatch(/^# {3}api\.pageSize: --page-size$/m);
    expect(first).toMatch(/^# {3}sync\.order: CONSTELLR_SYNC_ORDER$/m);
    // every key of the printed file is given in it now, yet only the same four differ from the default
    const printed = path.join(dirs.root, 'printed.yaml');
    await fsp.writeFile(printed, first);
    const second = configCheck(printed);
    expect(notAtDefault(second)).toEqual(['api.pageSize', 'mirror.maxDelete', 'sync.lookback', 'sync.order']);
    expect(second).toMatch(/^# {3}sync\.order: .*printed\.yaml$/m);
    // nothing given: no such section
    const empty = path.join(dirs.root, 'empty.yaml');
    await fsp.writeFile(empty, '{}\n');
    expect(configCheck(empty)).not.toContain('# values not at their default');
  });

  it('durations and sizes print as written (30d stays 30d, 7d stays 7d, 720h stays 720h), defaults included', async () => {
    const d = describeConfig(loadConfig({ env: {}, cwd: dirs.root })) as Record<string, Record<string, unknown>>;
    expect(d.stac!.lookback).toBe('30d');
    expect(d.notify!.failedRetention).toBe('7d');
    const src = path.join(dirs.root, 'units.yaml');
    await fsp.writeFile(src, 'stac:\n  lookback: 720h\nnotify:\n  failedRetention: 14d\nsync:\n  lookback: 7d\nmirror:\n  freeSpaceReserve: 1024MiB\n');
    const c = loadConfig({ configFile: src, env: { CONSTELLR_SYNC_LOOKBACK: '2w' }, cwd: dirs.root });
    const w = describeConfig(c) as Record<string, Record<string, unknown>>;
    expect(w.stac!.lookback).toBe('720h');
    expect(w.notify!.failedRetention).toBe('14d');
    expect(w.sync!.lookback).toBe('2w');
    expect(w.mirror!.freeSpaceReserve).toBe('1024MiB');
    const out = configCheck(src);
    expect(out).toMatch(/^ {2}lookback: 720h$/m);
    expect(out).toMatch(/^ {2}failedRetention: 14d$/m);
    expect(out).toMatch(/^ {2}lookback: 7d$/m);
    // the same value written in other units is no change for a reload
    const other = path.join(dirs.root, 'other.yaml');
    await fsp.writeFile(other, 'stac:\n  lookback: 30d\nnotify:\n  failedRetention: 2w\nsync:\n  lookback: 168h\nmirror:\n  freeSpaceReserve: 1GiB\n');
    const same = loadConfig({ configFile: other, env: { CONSTELLR_SYNC_LOOKBACK: '14d' }, cwd: dirs.root });
    expect(diffConfig(c, same)).toEqual([]);
  });
});

describe('unknown keys name the nearest known one', () => {
  it('a misspelt key in its section, a key in the wrong section', async () => {
    expect(editDistance('concurency', 'concurrency')).toBe(1);
    expect(suggestKey('sync', 'concurency')).toBe('sync.concurrency');
    expect(suggestKey('', 'concurrency')).toBe('sync.concurrency');
    expect(suggestKey('api', 'xyzzy')).toBeUndefined();
    const f = path.join(dirs.root, 'bad.yaml');
    await fsp.writeFile(f, 'sync:\n  concurency: 8\n');
    expect(() => loadConfig({ configFile: f, env: {}, cwd: dirs.root })).toThrow('sync.concurency: unknown key (did you mean "sync.concurrency"?)');
  });
});
