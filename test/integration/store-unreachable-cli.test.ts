// The state database out of reach when a command starts (issue: a StoreFault or store_unavailable that
// reaches the command line's top level): one line naming the database by host, port and database,
// never its password, and exit 6, not an `unexpected error` with a stack trace, nor exit 2 (a
// configuration error, which the systemd unit does not restart on).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { closedPort, runCli, tempDirs, type TempDirs } from '../helpers/harness.js';

let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  sim = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(3, { count: 2, maxSize: 4096 }), seed: 3 });
});
afterAll(async () => {
  await sim.close();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('the state database unreachable at start', () => {
  it.each(['sync', 'run', 'status'])('%s: one line naming the database without its password, exit 6', async (cmd) => {
    const d: TempDirs = await tempDirs('store-unreachable-cli');
    cleanups.push(() => d.cleanup());
    const port = await closedPort();
    const r = await runCli([cmd, '--api-url', sim.url, '--mirror-dir', d.mirror, '--state-dir', d.state], {
      env: {
        CONSTELLR_USERNAME: sim.username,
        CONSTELLR_PASSWORD: sim.password,
        CONSTELLR_SYNC_DATABASE_URL: `postgres://sync:Sup3rSecretPw@127.0.0.1:${port}/mirrordb?sslmode=disable`,
        CONSTELLR_HTTP_ENABLED: 'false',
      },
      timeoutMs: 30_000,
    });
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(`constellr-sync ${cmd}:`));
    expect(r.stdout + r.stderr).not.toContain('Sup3rSecretPw');
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
    expect(lines, r.stderr).toEqual([
      `constellr-sync ${cmd}: the state database at postgres://sync:***@127.0.0.1:${port}/mirrordb?sslmode=disable cannot be reached (connection refused): check that the server is up and state.url / CONSTELLR_SYNC_DATABASE_URL`,
    ]);
    expect(r.code, r.stderr).toBe(6);
  }, 40_000);
});

/**
 * A server that speaks just enough of PostgreSQL's protocol to stop a client where a setting is wrong:
 * `ssl` refuses the SSLRequest ('N': "The server does not support SSL connections"); `scram` asks for
 * SCRAM-SHA-256 and answers the first message, where pg needs a password it was not given.
 */
async function scriptedServer(script: 'ssl' | 'scram'): Promise<{ port: number; close: () => Promise<void> }> {
  const auth = (code: number, body: Buffer) => {
    const head = Buffer.alloc(9);
    head.write('R', 0);
    head.writeInt32BE(8 + body.length, 1);
    head.writeInt32BE(code, 5);
    return Buffer.concat([head, body]);
  };
  const server = net.createServer((s) => {
    let n = 0;
    s.on('data', () => {
      n++;
      if (script === 'ssl') s.write('N');
      else if (n === 1) s.write(auth(10, Buffer.from('SCRAM-SHA-256\0\0'))); // AuthenticationSASL
      else s.write(auth(11, Buffer.from('r=nonce,s=c2FsdA==,i=4096'))); // AuthenticationSASLContinue
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => { server.close(() => r()); }),
  };
}

// A server that answers but that the settings cannot talk to is the operator's to fix, not an outage:
// exit 2 (the systemd unit does not restart it in a loop), never "cannot be reached" (exit 6).
describe('the state database answering, but not as configured', () => {
  it.each([
    ['ssl', 'sslmode=require against a server without SSL', '?sslmode=require', 'The server does not support SSL connections'],
    ['scram', 'no password where the server asks for one', '?sslmode=disable', 'SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'],
  ] as const)('%s (%s): one line, exit 2', async (script, _what, query, why) => {
    const d: TempDirs = await tempDirs('store-misconfigured-cli');
    cleanups.push(() => d.cleanup());
    const server = await scriptedServer(script);
    cleanups.push(server.close);
    const r = await runCli(['sync', '--api-url', sim.url, '--mirror-dir', d.mirror, '--state-dir', d.state], {
      env: {
        CONSTELLR_USERNAME: sim.username,
        CONSTELLR_PASSWORD: sim.password,
        CONSTELLR_SYNC_DATABASE_URL: `postgres://sync@127.0.0.1:${server.port}/mirrordb${query}`,
        CONSTELLR_HTTP_ENABLED: 'false',
        PGPASSFILE: '/nonexistent',
      },
      timeoutMs: 30_000,
    });
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('constellr-sync sync:'));
    expect(r.stderr).not.toContain('cannot be reached');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0], r.stderr).toContain(`cannot open the PostgreSQL state at postgres://sync@127.0.0.1:${server.port}/mirrordb`);
    expect(lines[0], r.stderr).toContain(why);
    expect(r.code, r.stderr).toBe(2);
  }, 40_000);
});
