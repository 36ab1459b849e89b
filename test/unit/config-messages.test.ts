// Every configuration message a user can see names the key (and the variable or flag it came from)
// and what was expected: no bare "Invalid input". Cron expressions name the bad field and its range;
// bandwidth limits below 1KiB/s are refused; credentials are described as set/unset, never masked.
import { describe, expect, it } from 'vitest';
import { ENV_MAP, describeCredentials, loadConfig, loadCredentials, type LoadOptions } from '../../src/config/load.js';
import { schemaLeaves } from '../../src/config/describe.js';
import { cronProblem } from '../../src/config/cron-fields.js';
import { slowBandwidthWarning, parseTimetable } from '../../src/config/timetable.js';

function messageOf(o: LoadOptions): string {
  try {
    loadConfig({ env: {}, cwd: '/tmp', ...o });
  } catch (e) {
    return (e as Error).message;
  }
  return '(accepted)';
}

/** zod's own wording, which says neither what was expected nor what was given. */
const ZOD_DEFAULTS = /Invalid input|Invalid option|Too small:|Too big:|expected \w+, received|Invalid element/;

function withValue(path: string, v: unknown): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  let cur = doc;
  const parts = path.split('.');
  for (const p of parts.slice(0, -1)) cur = (cur[p] = {}) as Record<string, unknown>;
  cur[parts[parts.length - 1]!] = v;
  return doc;
}

describe('every message names the key and what was expected', () => {
  it('each leaf key with a wrong value of each kind', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'config-messages-'));
    let checked = 0;
    for (const { path: key } of schemaLeaves()) {
      for (const bad of ['abc', -5, true, [1], { x: 1 }]) {
        const file = path.join(dir, 'c.json');
        writeFileSync(file, JSON.stringify(withValue(key, bad)));
        const m = messageOf({ configFile: file });
        if (m === '(accepted)') continue;
        checked++;
        expect(m, `${key} = ${JSON.stringify(bad)}`).toContain(key);
        expect(m, `${key} = ${JSON.stringify(bad)}`).not.toMatch(ZOD_DEFAULTS);
      }
    }
    expect(checked).toBeGreaterThan(150);
  });

  it('an environment variable: the message names the variable, the key and the expected type', () => {
    expect(messageOf({ env: { CONSTELLR_SYNC_CONCURRENCY: 'abc' } })).toBe(
      'invalid configuration: sync.concurrency (from CONSTELLR_SYNC_CONCURRENCY): must be an integer from 1 to 256, got "abc"',
    );
    expect(messageOf({ env: { CONSTELLR_SYNC_HTTP_ENABLED: 'yes' } })).toBe('invalid configuration: http.enabled (from CONSTELLR_SYNC_HTTP_ENABLED): must be true or false');
    // Every variable given a value of the wrong kind says which variable.
    for (const [name, key] of Object.entries(ENV_MAP)) {
      for (const bad of ['abc', '-1', '{']) {
        const m = messageOf({ env: { [name]: bad } });
        if (m === '(accepted)') continue;
        expect(m, `${name}=${bad}`).toContain(`${key} (from ${name})`);
        expect(m, `${name}=${bad}`).not.toMatch(ZOD_DEFAULTS);
      }
    }
  });

  it('a flag: the message names the flag', () => {
    expect(messageOf({ flags: { concurrency: '0' } })).toBe('invalid configuration: sync.concurrency (from --concurrency): must be an integer from 1 to 256, got "0"');
  });
});

describe('cron expressions: the bad field, its value and its range', () => {
  it.each([
    ['0 25 * * *', 'hour field 25 is out of range 0-23'],
    ['*/61 * * * *', 'minute field "*/61": step 61 is out of range 1-59'],
    ['0 0 31 2 *', 'day-of-month 31 never occurs in February: the schedule would never run'],
    ['0 0 31 4,6 *', 'day-of-month 31 never occurs in April, June'],
    ['61 * * * *', 'minute field 61 is out of range 0-59'],
    ['* * * 13 *', 'month field 13 is out of range 1-12'],
    ['* * * * 8', 'day-of-week field 8 is out of range 0-7'],
    ['* * * * funday', 'day-of-week field "funday" is not a number or a name'],
    ['0 10-5 * * *', 'hour field range "10-5" runs backwards'],
    ['60 * * * * *', 'second field 60 is out of range 0-59'],
    ['* * * *', 'has 4 fields; a cron expression has 5'],
  ])('%s: %s', (expr, words) => {
    expect(cronProblem(expr)).toContain(words);
    const m = messageOf({ env: { CONSTELLR_SYNC_SCHEDULE: expr } });
    expect(m).toContain(`sync.schedule (from CONSTELLR_SYNC_SCHEDULE): ${JSON.stringify(expr)} is not a valid cron expression: `);
    expect(m).toContain(words);
  });

  it.each(['*/5 * * * *', '0 3 * * *', '30 3 * * mon-fri', '0 0 29 2 *', '0 0 30 2,4 *', '0 */2 * jan-mar sun', '*/10 * * * * *', '0 0 1,15 * *'])('%s is accepted', (expr) => {
    expect(cronProblem(expr)).toBeNull();
    expect(messageOf({ env: { CONSTELLR_SYNC_SCHEDULE: expr } })).toBe('(accepted)');
  });

  it('reconcileSchedule says "off" is allowed too', () => {
    expect(messageOf({ env: { CONSTELLR_SYNC_RECONCILE_SCHEDULE: '0 24 * * *' } })).toMatch(/sync\.reconcileSchedule .*hour field 24 is out of range 0-23.*\(or "off"\)/);
  });
});

describe('bandwidth: a limit below 1KiB/s is refused, 0 means no limit', () => {
  it.each(['0.5B/s', '1/s', '512', '1000B/s', 'Mon-Fri 08:00-18:00 100/s; otherwise unlimited'])('%s is refused, naming the flag and the minimum', (rate) => {
    const m = messageOf({ flags: { bwlimit: rate } });
    expect(m).toMatch(/^invalid configuration: sync\.bandwidth \(from --bwlimit\): rate ".+" is below the smallest limit, 1KiB\/s/);
  });

  it.each([
    ['0', null],
    ['0B/s', null],
    ['unlimited', null],
    ['1KiB/s', 1024],
    ['10MiB/s', 10 * 1024 * 1024],
  ])('%s is accepted (%s bytes/s)', (rate, bytes) => {
    expect(parseTimetable(rate).fallback).toBe(bytes);
    expect(messageOf({ flags: { bwlimit: rate } })).toBe('(accepted)');
  });

  it('a limit that concurrency downloads share below api.minDownloadRate is warned about, naming the three settings', () => {
    const w = slowBandwidthWarning(parseTimetable('128KiB/s'), 4, 64 * 1024);
    expect(w).toContain('sync.bandwidth 128KiB/s shared by sync.concurrency 4 downloads is 32KiB/s each, below api.minDownloadRate 64KiB/s');
    expect(slowBandwidthWarning(parseTimetable('Mon-Fri 08:00-18:00 128KiB/s; otherwise unlimited'), 4, 64 * 1024)).toContain('128KiB/s');
    expect(slowBandwidthWarning(parseTimetable('1MiB/s'), 4, 64 * 1024)).toBeNull();
    expect(slowBandwidthWarning(parseTimetable('unlimited'), 256, 64 * 1024)).toBeNull();
  });
});

describe('credentials: which are set and which one is in use, never a mask', () => {
  it('an API key run, a password run, nothing set', () => {
    expect(describeCredentials(loadCredentials({ CONSTELLR_API_KEY: 'k-123456789' }))).toBe('apiKey set (in use), username unset, password unset, webhookSecret unset, httpToken unset');
    expect(describeCredentials(loadCredentials({ CONSTELLR_USERNAME: 'u', CONSTELLR_PASSWORD: 'p', CONSTELLR_SYNC_HTTP_TOKEN: 'tok-123456' }))).toBe(
      'apiKey unset, username set (in use), password set (in use), webhookSecret unset, httpToken set',
    );
    expect(describeCredentials(loadCredentials({}))).toMatch(/^apiKey unset, username unset, password unset, webhookSecret unset, httpToken unset; no API credentials/);
  });
});
