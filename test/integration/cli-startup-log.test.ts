// The daemon's start-up log says which credential is in use (`apiKey set (in use), password unset`)
// instead of masking every credential field, set or not, as `***`.
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, spawnCli } from '../helpers/fault-daemon.js';
import { tempDirs } from '../helpers/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAll();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('run: the start-up log names the credentials in use', () => {
  it.each([
    ['an API key', { CONSTELLR_API_KEY: 'csk_0123456789abcdef' }, 'apiKey set (in use), username unset, password unset, webhookSecret unset, httpToken unset'],
    ['a username and password', { CONSTELLR_USERNAME: 'demo', CONSTELLR_PASSWORD: 'pw-0123456789' }, 'apiKey unset, username set (in use), password set (in use), webhookSecret unset, httpToken unset'],
  ])('%s', async (_what, creds, expected) => {
    const d = await tempDirs('startup-log');
    cleanups.push(() => d.cleanup());
    // Nothing listens on port 9: the daemon starts, logs, and keeps retrying its poll until killed.
    const p = spawnCli(['run', '--http-enabled', 'false', '--schedule', '0 0 1 1 *'], {
      ...creds,
      CONSTELLR_API_URL: 'http://127.0.0.1:9',
      CONSTELLR_SYNC_STATE_DIR: d.state,
      CONSTELLR_SYNC_MIRROR_DIR: d.mirror,
      CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'off', // no 03:30 reconcile in the middle of the test
    });
    const line = await p.waitLog((l) => l.msg === 'constellr-sync starting', 20_000, 'the start-up line');
    const config = line.config as { credentials: unknown };
    expect(config.credentials).toBe(expected);
    // No credential is shown as a mask that does not say whether it is set.
    expect(JSON.stringify(line)).not.toContain('***');
    for (const secret of Object.values(creds)) if (secret.length > 6) expect(p.stdout() + p.stderr()).not.toContain(secret);
    p.kill('SIGKILL');
  });
});
