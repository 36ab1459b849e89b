// Benchmark simulator: runs the built-in API simulator in its own process, so it never shares an
// event loop (or a CPU profile) with the tool being measured. Content is generated on the fly
// (AES-CTR keystream, see src/simulator/content.ts), so nothing is pre-written to disk.
//
// Usage: node bench/sim-server.mjs '<scenario JSON>' [asset-list-file]
// Prints one JSON line {url, username, password, count, bytes} on stdout when listening, and exits
// when stdin closes or on SIGTERM. With asset-list-file, writes one JSON line [key, size] per asset.
import { createWriteStream } from 'node:fs';
import { AssetInventory, sampleInventory, startSimulator } from '../dist/simulator/index.js';
import { buildAssets } from './scenarios.mjs';

const spec = JSON.parse(process.argv[2] ?? '{}');
const listFile = process.argv[3];

let inventory;
if (spec.kind === 'sample') {
  inventory = sampleInventory(spec.seed ?? 7, { count: spec.count, maxSize: spec.maxSize, now: spec.now, awkwardKeys: false });
} else {
  inventory = new AssetInventory();
  inventory.putMany(buildAssets(spec));
}

const sim = await startSimulator({
  inventory,
  adminPort: false,
  maxPageSize: 1000,
  username: 'bench',
  password: 'bench-password',
  seed: 1,
});

if (listFile) {
  const out = createWriteStream(listFile);
  let batch = [];
  for (const a of inventory) {
    batch.push(JSON.stringify([a.key, a.size]));
    if (batch.length >= 10_000) {
      if (!out.write(`${batch.join('\n')}\n`)) await new Promise((r) => out.once('drain', r));
      batch = [];
    }
  }
  await new Promise((r) => out.end(batch.length ? `${batch.join('\n')}\n` : '', r));
}

process.stdout.write(
  `${JSON.stringify({ url: sim.url, username: sim.username, password: sim.password, count: inventory.size, bytes: inventory.totalBytes })}\n`,
);

let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  await sim.close();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
