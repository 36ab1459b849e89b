// `constellr-sync simulate`: run the built-in API simulator until interrupted.
import { parseArgs } from 'node:util';
import { SIMULATE_OPTIONS, optionsHelp } from '../options.js';
import { sampleInventory, sampleStacStore, startSimulator, type ApiKeyInput, type FaultConfig } from '../../simulator/index.js';
import { SyncError } from '../../errors.js';
import { out } from '../common.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { watchShutdown } from '../signals.js';

export const SIMULATE_HELP = `Usage: constellr-sync simulate [options]

Serve the built-in Constellr API simulator on 127.0.0.1 until interrupted.

${optionsHelp('simulate')}

Every fault knob can also be changed while it runs: PUT /faults on the admin port with a JSON object
of errorRate, rate429, retryAfterSeconds, resetRate, truncateRate, bodyBytesPerSecond, latencyMs,
notFoundKeys, listFaultRate, malformedListing ("once" | "always"), e.g.
  curl -X PUT localhost:8081/faults -d '{"bodyBytesPerSecond":262144,"latencyMs":200}'`;

function num(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number`);
  return n;
}

/** A port that is taken: one line naming it and the flag that changes it (exit 2). */
function portInUse(e: unknown, ports: { port: number; adminPort: number }): SyncError | null {
  const x = e as { code?: unknown; syscall?: unknown; port?: unknown; address?: unknown };
  if (x?.syscall !== 'listen' || (x.code !== 'EADDRINUSE' && x.code !== 'EACCES')) return null;
  const flag = x.port === ports.port ? '--port' : x.port === ports.adminPort ? '--admin-port' : null;
  const why = x.code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges';
  return new SyncError(
    `port ${String(x.port)} on ${String(x.address)} ${why} (${x.code}): ${flag ? `choose another with ${flag} N (0 picks a free one)` : 'choose other ports with --port and --admin-port'}`,
    { code: 'SYNC_HTTP_LISTEN', cause: e },
  );
}

export async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: SIMULATE_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out(SIMULATE_HELP);
    return EXIT.OK;
  }
  const seed = num(values.seed, 'seed', 42);
  const source = values.source ?? 'assets';
  if (source !== 'assets' && source !== 'stac') throw new UsageError('--source must be assets or stac');
  const apiKeys: ApiKeyInput[] = [];
  if (values['api-key-file'] !== undefined) {
    const { readFileSync } = await import('node:fs');
    let key: string;
    try {
      key = readFileSync(values['api-key-file'], 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--api-key-file: cannot read ${values['api-key-file']}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (key.length < 8) throw new UsageError('--api-key-file must hold a key of at least 8 characters');
    apiKeys.push({ key });
  }
  const maxSize = num(values['max-size'], 'max-size', source === 'stac' ? 1024 * 1024 : 4 * 1024 * 1024);
  const stac = source === 'stac' ? sampleStacStore(seed, { items: num(values.items, 'items', 60), maxSize }) : undefined;
  if (stac) stac.setKnobs({ urlTtlSeconds: Math.max(1, Math.floor(num(values['url-ttl'], 'url-ttl', 900))) });
  const faults: Partial<FaultConfig> = {
    errorRate: num(values['error-rate'], 'error-rate', 0),
    rate429: num(values['rate-429'], 'rate-429', 0),
    retryAfterSeconds: num(values['retry-after'], 'retry-after', 1),
    resetRate: num(values['reset-rate'], 'reset-rate', 0),
    truncateRate: num(values['truncate-rate'], 'truncate-rate', 0),
    bodyBytesPerSecond: num(values['bytes-per-second'], 'bytes-per-second', 0),
    latencyMs: num(values.latency, 'latency', 0),
    notFoundKeys: values['not-found'] ?? [],
  };
  const port = num(values.port, 'port', 8080);
  const adminPort = num(values['admin-port'], 'admin-port', 8081);
  const sim = await startSimulator({
    port,
    adminPort,
    username: values.username ?? 'demo',
    password: values.password ?? 'demo-password',
    tokenTtlMs: num(values['token-ttl'], 'token-ttl', 86_400) * 1000,
    redirect: values.redirect ?? false,
    inventory: sampleInventory(seed, { count: num(values.assets, 'assets', 120), maxSize }),
    apiKeys,
    stac,
    faults,
    seed,
  }).catch((e: unknown) => {
    throw portInUse(e, { port, adminPort }) ?? e;
  });
  out(`Constellr API simulator: ${sim.url}`);
  if (sim.adminUrl) out(`admin:                   ${sim.adminUrl}  (GET /stats, PUT /assets, DELETE /assets/<key>, PUT /faults)`);
  if (sim.storageUrl) out(`storage:                 ${sim.storageUrl}${stac ? ' (pre-signed STAC asset URLs)' : ' (redirects)'}`);
  if (stac) {
    // What a STAC sync mirrors: the items' assets (the asset API below is a separate, legacy asset inventory).
    const stacAssets = stac.all().flatMap((i) => i.assets);
    const stacBytes = stacAssets.reduce((n, a) => n + (stac.object(a)?.size ?? 0), 0);
    out(`STAC API:                ${sim.url}/stac  (${stac.size} items, ${stacAssets.length} assets, ${stacBytes} bytes, in lstprecision, lstzoom, lstfusion)`);
    out(`STAC admin:              PUT/GET ${sim.adminUrl ?? '(admin disabled)'}/stac/items, /stac/knobs; POST /api-keys/revoke`);
  }
  if (apiKeys.length) out('API key:                 accepted from --api-key-file (X-Api-Key)');
  out(`credentials:             CONSTELLR_USERNAME=${sim.username} CONSTELLR_PASSWORD=<the --password value, default demo-password>`);
  out(`${(stac ? 'asset API (legacy):' : 'assets:').padEnd(25)}${sim.inventory.size} assets (${sim.inventory.totalBytes} bytes) at GET /assets`);
  out('Press Ctrl-C to stop.');
  // The first signal closes the simulator; a second exits at once.
  const shutdown = watchShutdown();
  await new Promise<void>((resolve) => shutdown.handle({ graceful: () => resolve() }));
  await sim.close();
  shutdown.dispose();
  return EXIT.OK;
}
