// The PostgreSQL server out of reach (its connections cut, new ones reset) is the database's problem,
// not the API's: the failed poll says so (store_unavailable, exit 6 for `sync`, not 3), the circuit
// breaker stays closed, and once the server is reachable again everything is mirrored. The store talks
// to the real server through a TCP relay that the test cuts (every connection destroyed, new ones
// reset: the pg driver's own "Connection terminated unexpectedly" and ECONNRESET) and restores.
// Meanwhile the workers wait at the claim gate (store_unavailable): one pause line, a summary now and
// then, one line when it is back; a one-shot `sync` gives up after sync.outageDeadline with exit 6.
import { writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { EXIT, isUnreachable } from '../../src/errors.js';
import { AssetInventory } from '../../src/simulator/index.js';
import { credentials, makeAssets } from '../helpers/fault-daemon.js';
import { runCli, verifyMirror, waitUntil } from '../helpers/harness.js';
import { postgresBed, requirePostgres, sql, startPostgresEngine, TEST_DATABASE_URL, type Cleanups } from '../helpers/postgres.js';

const KiB = 1024;
const pgOk = await requirePostgres();
const cleanups: Cleanups = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/**
 * A TCP relay to the real server on a local port it keeps for the whole test: cut() destroys every
 * connection and resets each new one (ECONNRESET) until restore(). Never closing the port while cut
 * means no other process can take it in between (a reopen on the same ephemeral port could meet
 * EADDRINUSE on a busy host).
 */
class Relay {
  port = 0;
  #server: net.Server | null = null;
  #cut = false;
  readonly #sockets = new Set<net.Socket>();
  constructor(readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      client.on('error', () => undefined);
      if (this.#cut) {
        client.resetAndDestroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** The server goes out of reach: open connections are dropped, new ones reset. */
  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  /** Reachable again, on the same port. */
  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.#server;
    this.#server = null;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

/** A relay to the test's server (closed by the cleanups) and the server's URL through it. */
async function relayed(): Promise<{ relay: Relay; url: URL }> {
  const real = new URL(TEST_DATABASE_URL);
  const relay = new Relay({ host: real.hostname, port: Number(real.port || 5432) });
  await relay.open();
  cleanups.push(() => relay.close());
  const url = new URL(TEST_DATABASE_URL);
  url.host = `127.0.0.1:${relay.port}`;
  return { relay, url };
}

type Line = { msg?: string; reason?: string; err?: unknown; errorClass?: unknown; workersWaiting?: number; downForMs?: number };

describe.skipIf(!pgOk)('the PostgreSQL server out of reach', () => {
  it('is a database problem: store_unavailable, no circuit breaker, no exit 3; everything is mirrored once it is back', async () => {
    const bed = await postgresBed(cleanups, 'store-unreachable', 'sunr', { inventory: new AssetInventory(makeAssets('su', [8 * KiB, 8 * KiB])) });
    const { sim, dirs: d } = bed;
    const { relay, url } = await relayed();
    const { rt, engine, lines, waitDone } = await startPostgresEngine<Line>(cleanups, bed, {
      url: url.toString(),
      config: { 'sync.breakerPause': '60s' },
      engine: { storeOutageSummaryMs: 300 },
    });
    await waitDone(2, 'the first two files');

    // The server goes out of reach: open connections are cut, new ones are reset.
    relay.cut();
    sim.inventory.putMany(makeAssets('su-2', [8 * KiB], Date.now() - 60_000));
    // A poll may first meet a connection being dropped ("Connection terminated unexpectedly"); once the
    // pool let its connections go, a new one is reset (ECONNRESET, or EPIPE if the startup message was
    // still being written: socket errors that the old code took for the API's).
    const polled: string[] = [];
    await waitUntil(async () => {
      expect(await engine.poll()).toBeNull();
      const e = engine.lastPoll?.error;
      expect([e?.errorClass, e?.code, isUnreachable(e!), e?.exitCode]).toEqual(['store_unavailable', 'SYNC_STORE_UNAVAILABLE', false, EXIT.STORE_UNAVAILABLE]);
      expect(e?.message).toMatch(/^poll: the state database cannot be reached \(PostgreSQL: /);
      polled.push(e!.message);
      return /, (ECONNRESET|EPIPE)\)$/.test(e!.message);
    }, 20_000, 50, 'a poll whose new connection is reset');
    // The workers cannot claim meanwhile: they wait at the gate (one pause line), a summary now and
    // then says how long it has lasted, no worker logs an error per try, and nothing of it is the API's.
    const summaries = () => lines.filter((l) => l.msg?.startsWith('the state database has been unavailable for '));
    await waitUntil(() => summaries().length >= 3, 20_000, 20, 'three summaries of the outage');
    expect(lines.filter((l) => l.msg === 'pausing downloads until this clears')).toMatchObject([{ reason: 'store_unavailable', err: expect.stringMatching(/the state database cannot be reached/) }]);
    expect(summaries()[0]).toMatchObject({ reason: 'store_unavailable', workersWaiting: 2, err: expect.stringMatching(/the state database cannot be reached/) });
    expect(summaries()[0]?.msg).toMatch(/^the state database has been unavailable for \d+ s; 2 workers waiting$/);
    expect(lines.filter((l) => l.msg === 'worker loop error; backing off')).toEqual([]);
    expect(engine.gate.state().reasons).toContain('store_unavailable');
    expect(engine.gate.apiDown).toBe(false);
    expect(lines.filter((l) => l.msg === 'pausing all downloads' || l.reason === 'api_down')).toEqual([]);
    expect(lines.filter((l) => l.errorClass === 'network' || l.errorClass === 'timeout')).toEqual([]);

    // Reachable again: the next poll records the new file and the workers mirror it.
    relay.restore();
    await waitUntil(async () => (await engine.poll()) !== null, 20_000, 100, 'a poll to succeed once the server is back');
    await waitDone(3, 'the new file mirrored');
    // One line says it is back, with how long it was out.
    expect(lines.filter((l) => l.msg === 'condition cleared; downloads resume')).toMatchObject([{ reason: 'store_unavailable', downForMs: expect.any(Number) }]);
    expect(await rt.store.counts()).toMatchObject({ done: 3, queued: 0, running: 0, failed: 0 });
    expect(engine.gate.apiDown).toBe(false);
    expect(await verifyMirror(d.mirror, sim.inventory.values())).toEqual([]);
  }, 90_000);

  it('a one-shot sync gives up after sync.outageDeadline: one line naming the database without its password, exit 6, the rest queued', async () => {
    const { sim, dirs: d, schema } = await postgresBed(cleanups, 'store-deadline', 'sdl', {
      inventory: new AssetInventory(makeAssets('sd', [48 * KiB, 48 * KiB, 48 * KiB, 48 * KiB])),
      faults: { bodyBytesPerSecond: 32 * KiB },
    });
    const { relay, url } = await relayed();
    url.password = 'Sup3rSecretPw'; // trust: never asked for, never to be shown
    const configFile = path.join(d.root, 'config.yaml');
    await writeFile(configFile, YAML.stringify({ state: { url: url.toString(), schema }, http: { enabled: false }, sync: { concurrency: 1, outageDeadline: '2s', gracePeriod: '1s' } }));
    const run = runCli(['sync', '--config', configFile, '--api-url', sim.url, '--mirror-dir', d.mirror, '--state-dir', d.state], { env: credentials(sim), timeoutMs: 60_000 });
    // One file mirrored, the next one downloading: the database goes out of reach.
    await waitUntil(async () => Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".jobs WHERE state = 'done'`).catch(() => [{ n: '0' }]))[0]?.n) >= 1, 30_000, 50, 'the first file mirrored');
    relay.cut();
    const r = await run;
    expect(r.stdout + r.stderr).not.toContain('Sup3rSecretPw');
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
    expect(r.stderr).toMatch(new RegExp(`gave up: the state database postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${relay.port}/test has been unreachable for more than 2(\\.0)?s \\(sync\\.outageDeadline\\); \\d+ downloaded`));
    const logs = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    expect(logs.filter((l) => l.msg === 'pausing downloads until this clears')).toMatchObject([{ reason: 'store_unavailable' }]);
    expect(logs.filter((l) => l.msg?.includes('giving up'))).toMatchObject([{ msg: 'the state database has been unreachable longer than sync.outageDeadline; giving up (the rest stays queued)' }]);
    expect(logs.filter((l) => l.msg === 'worker loop error; backing off')).toEqual([]);
    expect(r.code, r.stderr).toBe(EXIT.STORE_UNAVAILABLE);
    // The rest stays queued for the next sync.
    relay.restore();
    expect(Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".jobs WHERE state <> 'done'`))[0]?.n)).toBeGreaterThan(0);
  }, 90_000);

  it('run losing the database during start-up recovery: one line naming it, exit 6, not an unexpected error with a stack', async () => {
    const { sim, dirs: d, schema } = await postgresBed(cleanups, 'store-recovery', 'srec', { inventory: new AssetInventory(makeAssets('sr', [KiB])) });
    await (await PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: 3 }))?.close();
    // Recovery's first statement (requeue orphans) waits for this lock: the database is then cut under it.
    const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await locker.connect();
    cleanups.push(() => locker.end());
    await locker.query(`BEGIN; LOCK TABLE "${schema}".jobs IN ACCESS EXCLUSIVE MODE`);
    const { relay, url } = await relayed();
    url.password = 'Sup3rSecretPw';
    const configFile = path.join(d.root, 'config.yaml');
    await writeFile(configFile, YAML.stringify({ state: { url: url.toString(), schema }, http: { enabled: false }, sync: { schedule: '0 0 1 1 *', reconcileSchedule: 'off' } }));
    const run = runCli(['run', '--config', configFile, '--api-url', sim.url, '--mirror-dir', d.mirror, '--state-dir', d.state], { env: credentials(sim), timeoutMs: 60_000 });
    const waiting = async () => (await sql<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE relation = '"${schema}".jobs'::regclass AND NOT granted`))[0]?.n !== '0';
    await waitUntil(waiting, 30_000, 50, 'recovery to wait for the jobs table');
    relay.cut();
    const r = await run;
    await locker.query('ROLLBACK');
    expect(r.stdout + r.stderr).not.toContain('Sup3rSecretPw');
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('constellr-sync run:'));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^constellr-sync run: the state database at postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${relay.port}/test cannot be reached \\(.+\\): check that the server is up and state\\.url / CONSTELLR_SYNC_DATABASE_URL$`));
    expect(r.code, r.stderr).toBe(EXIT.STORE_UNAVAILABLE);
  }, 90_000);
});
