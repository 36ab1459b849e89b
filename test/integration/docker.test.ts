// The container image, end to end: testcontainers builds it from the Dockerfile and runs it against
// the simulator on this host, then checks readiness, the mirror (through /metrics), the non-root
// user and a graceful stop. Needs a container engine; without one it skips and says why. The engine
// is detected cheaply first (DOCKER_HOST, or a socket that answers GET /_ping within 2 s), so the
// test never waits on a missing daemon. testcontainers is pinned (package.json) like the other
// test tools.
import { existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { REPO_ROOT, waitUntil } from '../helpers/harness.js';

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** null when an engine answers; otherwise why the test is skipped. */
async function detectEngine(): Promise<string | null> {
  if (process.env.DOCKER_HOST) return null; // explicit configuration: trust it (testcontainers reads it)
  const home = os.homedir();
  const xdg = process.env.XDG_RUNTIME_DIR;
  const sockets = [
    '/var/run/docker.sock',
    path.join(home, '.docker/run/docker.sock'),
    path.join(home, '.docker/desktop/docker.sock'),
    path.join(home, '.colima/default/docker.sock'),
    path.join(home, '.rd/docker.sock'),
    ...(xdg ? [path.join(xdg, 'docker.sock'), path.join(xdg, 'podman/podman.sock')] : []),
  ].filter((s) => existsSync(s));
  if (sockets.length === 0) return 'no container engine: DOCKER_HOST is not set and no Docker/Podman socket exists';
  for (const s of sockets) if (await ping(s)) return null;
  return `no container engine answers on ${sockets.join(', ')}`;
}

const skipReason = await detectEngine();
if (skipReason) console.log(`docker.test: skipped: ${skipReason}`);

let sim: Simulator | undefined;
afterAll(async () => {
  await sim?.close();
});

describe.skipIf(skipReason !== null)('the Docker image', () => {
  it(
    'builds, becomes ready, mirrors the simulated account as a non-root user and stops gracefully',
    async () => {
      const { GenericContainer, TestContainers, Wait } = await import('testcontainers');
      const assets = Array.from({ length: 6 }, (_, i) => ({ key: `products/lst/scene-${i}.tif`, size: 32 * 1024 + i, lastModified: Date.UTC(2026, 0, 1, i) }));
      // Listen on every interface: the container reaches the host through testcontainers' port forwarder.
      sim = await startSimulator({ host: '0.0.0.0', port: 0, adminPort: false, inventory: new AssetInventory(assets), seed: 3 });
      const port = Number(new URL(sim.url).port);
      await TestContainers.exposeHostPorts(port);
      const image = await GenericContainer.fromDockerfile(REPO_ROOT).build('constellr-sync-test:latest', { deleteOnExit: true });
      const container = await image
        .withEnvironment({
          CONSTELLR_API_URL: `http://host.testcontainers.internal:${port}`,
          CONSTELLR_USERNAME: sim.username,
          CONSTELLR_PASSWORD: sim.password,
        })
        .withExposedPorts(9464)
        .withWaitStrategy(Wait.forHttp('/readyz', 9464).forStatusCode(200))
        .withStartupTimeout(120_000)
        .start();
      try {
        const base = `http://${container.getHost()}:${container.getMappedPort(9464)}`;
        expect((await fetch(`${base}/healthz`)).status).toBe(200);
        await waitUntil(
          async () => (await (await fetch(`${base}/metrics`)).text()).includes(`constellr_sync_assets{state="done"} ${assets.length}`),
          60_000,
          250,
          'every asset mirrored inside the container',
        );
        const uid = await container.exec(['node', '-e', 'process.stdout.write(String(process.getuid()))']);
        expect(uid.output.trim()).not.toBe('0');
        const ls = await container.exec(['node', '-e', "console.log(require('fs').readdirSync('/data/mirror/products/lst').length)"]);
        expect(Number(ls.output.trim())).toBe(assets.length);
      } finally {
        // SIGTERM reaches node (exec-form ENTRYPOINT) and it stops within the grace period.
        await container.stop({ timeout: 40_000 });
      }
    },
    15 * 60_000,
  );
});

