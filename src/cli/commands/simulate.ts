// `constellr-sync simulate`: run the built-in API simulator until interrupted.
import { parseArgs } from 'node:util';
import { sampleCatalogue, startSimulator, type FaultConfig } from '../../simulator/index.js';
import { out } from '../common.js';
import { EXIT, UsageError } from '../exit-codes.js';

export const SIMULATE_HELP = `Usage: constellr-sync simulate [options]

Serve the built-in Constellr API simulator on 127.0.0.1 until interrupted.

Options:
  --port N             API port (default 8080; 0 picks a free one)
  --admin-port N       admin port (default 8081; add/replace/delete assets, faults, stats)
  --assets N           size of the generated sample catalogue (default 120)
  --max-size SIZE      largest generated asset in bytes (default 4194304)
  --seed N             catalogue and fault seed (default 42)
  --redirect           serve downloads through a redirect to a separate "storage" origin
  --username U         accepted username (default demo)
  --password P         accepted password (default demo-password)
  --token-ttl SECONDS  token lifetime (default 86400)
  --error-rate F       fraction of requests answered 5xx (default 0)
  --rate-429 F         fraction answered 429 (default 0)
  --reset-rate F       fraction of downloads reset mid-body (default 0)
  --truncate-rate F    fraction of downloads cut short, close-delimited (default 0)`;

function num(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number`);
  return n;
}

export async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      assets: { type: 'string' },
      'max-size': { type: 'string' },
      seed: { type: 'string' },
      redirect: { type: 'boolean' },
      username: { type: 'string' },
      password: { type: 'string' },
      'token-ttl': { type: 'string' },
      'error-rate': { type: 'string' },
      'rate-429': { type: 'string' },
      'reset-rate': { type: 'string' },
      'truncate-rate': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out(SIMULATE_HELP);
    return EXIT.OK;
  }
  const seed = num(values.seed, 'seed', 42);
  const faults: Partial<FaultConfig> = {
    errorRate: num(values['error-rate'], 'error-rate', 0),
    rate429: num(values['rate-429'], 'rate-429', 0),
    retryAfterSeconds: 1,
    resetRate: num(values['reset-rate'], 'reset-rate', 0),
    truncateRate: num(values['truncate-rate'], 'truncate-rate', 0),
  };
  const sim = await startSimulator({
    port: num(values.port, 'port', 8080),
    adminPort: num(values['admin-port'], 'admin-port', 8081),
    username: values.username ?? 'demo',
    password: values.password ?? 'demo-password',
    tokenTtlMs: num(values['token-ttl'], 'token-ttl', 86_400) * 1000,
    redirect: values.redirect ?? false,
    catalogue: sampleCatalogue(seed, { count: num(values.assets, 'assets', 120), maxSize: num(values['max-size'], 'max-size', 4 * 1024 * 1024) }),
    faults,
    seed,
  });
  out(`Constellr API simulator: ${sim.url}`);
  if (sim.adminUrl) out(`admin:                   ${sim.adminUrl}  (GET /stats, PUT /assets, DELETE /assets/<key>, PUT /faults)`);
  if (sim.storageUrl) out(`storage (redirects):     ${sim.storageUrl}`);
  out(`credentials:             CONSTELLR_USERNAME=${sim.username} CONSTELLR_PASSWORD=<the --password value, default demo-password>`);
  out(`assets:                  ${sim.catalogue.size} (${sim.catalogue.totalBytes} bytes)`);
  out('Press Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sim.close();
  return EXIT.OK;
}
