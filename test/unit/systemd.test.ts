// The systemd unit: `systemd-analyze verify` accepts it, and `systemd-analyze security --offline=true`
// rates its exposure at most 2.0. Skipped (with the reason printed) where systemd-analyze is missing.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.js';
import { configSchema } from '../../src/config/schema.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { REPO_ROOT } from '../helpers/harness.js';

const UNIT = path.join(REPO_ROOT, 'contrib', 'systemd', 'constellr-sync.service');
const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const missing = probe.error !== undefined || probe.status !== 0;
if (missing) console.log(`systemd.test: skipping systemd-analyze checks: ${probe.error?.message ?? `exit ${probe.status}`}`);

function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split(/\r?\n/)) {
    const l = raw.trim();
    if (!l || l.startsWith('#') || l.startsWith(';') || l.startsWith('[')) continue;
    const i = l.indexOf('=');
    const k = l.slice(0, i);
    out.set(k, [...(out.get(k) ?? []), l.slice(i + 1)]);
  }
  return out;
}

describe('contrib/systemd/constellr-sync.service', () => {
  const d = directives(readFileSync(UNIT, 'utf8'));
  const one = (k: string) => d.get(k)?.at(-1);

  it('declares the required service settings', () => {
    expect(['simple', 'notify']).toContain(one('Type'));
    expect(one('Restart')).toBe('on-failure');
    // Configuration and operator mistakes (exit 2) are never restarted in a loop.
    const prevent = (d.get('RestartPreventExitStatus') ?? []).flatMap((v) => v.split(/\s+/)).map(Number);
    expect(prevent).toContain(EXIT.USAGE);
    expect(one('ExecStart')).toMatch(/main\.js run\b/);
    // glibc reads it only at start: the unit is where it can be set (bench/README.md, "Peak RSS on Node 24…").
    expect(d.get('Environment')).toContain('MALLOC_ARENA_MAX=2');
    expect(one('DynamicUser') === 'yes' || (one('User') ?? 'root') !== 'root').toBe(true);
    expect(one('StateDirectory')).toBe('constellr-sync');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBeTruthy();
    for (const k of ['NoNewPrivileges', 'PrivateTmp', 'ProtectHome']) expect(one(k), k).toBe('yes');
    expect(one('RestrictAddressFamilies')).toBeTruthy();
    expect(d.get('SystemCallFilter')).toContain('@system-service');
    const creds = (d.get('LoadCredential') ?? []).map((c) => c.split(':')[0]);
    expect(creds).toEqual(expect.arrayContaining(['constellr-username', 'constellr-password']));
  });

  it('waits longer than the grace period before SIGKILL', () => {
    const grace = configSchema.parse({}).sync.gracePeriod;
    expect(parseDuration(one('TimeoutStopSec')!)).toBeGreaterThan(grace);
  });

  it.skipIf(missing)('passes systemd-analyze verify', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr.trim()).toBe('');
  });

  it.skipIf(missing)('has an exposure level of at most 2.0 (systemd-analyze security --offline=true)', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8', timeout: 30_000 });
    const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
    expect(m, `${r.stdout}\n${r.stderr}`).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });
});
