// Secrets stay out of hook environments and log lines (issue 11 §8).
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { hookEnv } from '../../src/ops/notify.js';
import type { OutboxItem } from '../../src/store/types.js';

const item: OutboxItem = { id: 1, sink: 'hook', attempts: 1, createdAt: 0, event: 'created', key: 'a/b.tif', path: 'a/b.tif', size: 3, lastModifiedMs: 0, sha256: null };

describe('hook environment', () => {
  const secret = {
    CONSTELLR_SYNC_DATABASE_URL: 'postgres://u:pw@db/x',
    CONSTELLR_SYNC_DATABASE_URL_FILE: '/run/secrets/db',
    DATABASE_URL: 'postgres://u:pw@db/x',
    PGPASSWORD: 'pw',
    PGPASSFILE: '/home/u/.pgpass',
    CONSTELLR_PASSWORD: 'pw',
    CONSTELLR_PASSWORD_FILE: '/run/secrets/pw',
    CONSTELLR_USERNAME: 'me',
    CONSTELLR_API_KEY: 'k',
    CONSTELLR_API_KEY_FILE: '/run/secrets/k',
    API_KEY: 'k',
    AWS_SECRET_ACCESS_KEY: 's',
    AWS_SESSION_TOKEN: 't',
    GITHUB_TOKEN_FILE: '/t',
    CONSTELLR_SYNC_WEBHOOK_SECRET: 's',
    CONSTELLR_SYNC_WEBHOOK_SECRET_FILE: '/s',
    SIGNING_KEY: 'k',
    signing_key: 'k',
    MY_PRIVATE_THING: 'x',
  };
  const kept = { PATH: '/usr/bin', HOME: '/home/u', LANG: 'C.UTF-8', KEYBOARD: 'us', MONKEY_BUSINESS: 'yes', CONSTELLR_SYNC_MIRROR_DIR: '/m' };

  it('removes every secret-bearing variable and its _FILE twin, keeps the rest', () => {
    const env = hookEnv(item, '/m', { ...secret, ...kept });
    for (const k of Object.keys(secret)) expect(env[k], k).toBeUndefined();
    for (const [k, v] of Object.entries(kept)) expect(env[k], k).toBe(v);
    expect(env.CONSTELLR_KEY).toBe('a/b.tif'); // the event itself is set after the filter
  });
});

describe('logger scrubbing', () => {
  const capture = () => {
    const lines: string[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    return { lines, dest };
  };
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

  it('scrubs an err given as a string, like a message', () => {
    const { lines, dest } = capture();
    const log = createLogger({ destination: dest, secrets: () => ['hunter22'] });
    log.warn({ err: `HTTP 500: {"detail":"bad token ${jwt}","echo":"password=hunter22","auth":"Bearer abc.def"}` }, 'download failed');
    const out = lines.join('');
    expect(out).toContain('download failed');
    expect(out).not.toContain(jwt);
    expect(out).not.toContain('hunter22');
    expect(out).not.toContain('Bearer abc.def');
  });

  it('scrubs passwords in URLs and never mutates a plain err object', () => {
    const { lines, dest } = capture();
    const log = createLogger({ destination: dest });
    const e = { message: 'connect postgres://sync:s3cr3t-pw@db:5432/x failed' };
    log.error({ err: e }, 'x');
    log.error({ err: new Error('connect postgresql://sync:s3cr3t-pw@db/x refused') }, 'y');
    const out = lines.join('');
    expect(out).not.toContain('s3cr3t-pw');
    expect(out).toContain('postgres://sync:***@db:5432/x');
    expect(e.message).toContain('s3cr3t-pw');
  });
});
