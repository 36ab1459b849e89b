// Deterministic asset sets shared by the simulator process (bench/sim-server.mjs) and the
// orchestrator (bench/run.mjs), which needs the same "known" assets to pre-build a state database.

const pad = (n, w) => String(n).padStart(w, '0');

/** Uniform assets: `count` objects of `size` bytes, `perDir` per directory. */
function* uniform(spec) {
  const perDir = spec.perDir ?? 1000;
  const lm = spec.lastModifiedMs ?? Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < spec.count; i++) {
    yield { key: `${spec.prefix}/d${pad(Math.floor(i / perDir), 4)}/obj-${pad(i, 7)}.bin`, size: spec.size, lastModified: lm + (i % 3600) * 1000 };
  }
}

/**
 * The assets already mirrored in the incremental scenario: `known` objects. The newest `tail` of
 * them (default 50) were modified in the last 30 minutes before oldToMs, the rest are spread over
 * [oldFromMs, oldToMs − 6 h]. So whatever `known` is, a poll's lookback window (HWM − 1 h by
 * default) re-lists the same `tail` unchanged assets, and the comparison isolates the state size.
 * Their newest LastModified is the state's high-water mark.
 */
export function* knownAssets(spec) {
  const tail = Math.min(spec.tail ?? 50, spec.known);
  const bulk = spec.known - tail;
  const bulkTo = spec.oldToMs - 6 * 3_600_000;
  const span = Math.max(1, bulkTo - spec.oldFromMs);
  for (let i = 0; i < spec.known; i++) {
    const t =
      i < bulk
        ? spec.oldFromMs + Math.floor((i / Math.max(1, bulk - 1)) * span)
        : spec.oldToMs - 1_800_000 + Math.floor(((i - bulk) / Math.max(1, tail - 1)) * 1_800_000);
    const lm = Math.floor(t / 1000) * 1000;
    yield { key: `archive/d${pad(Math.floor(i / 1000), 4)}/LST_${pad(i, 7)}.tif`, size: spec.knownSize ?? 4096, lastModified: lm };
  }
}

function* freshAssets(spec) {
  for (let i = 0; i < spec.fresh; i++) {
    yield { key: `new/LST_${pad(i, 5)}.tif`, size: spec.freshSize, lastModified: spec.newAtMs + (i % 10) * 1000 };
  }
}

/** Every asset of a scenario spec (except `sample`, which uses the simulator's LST sample inventory). */
export function* buildAssets(spec) {
  if (spec.kind === 'uniform') yield* uniform(spec);
  else if (spec.kind === 'incremental') {
    yield* knownAssets(spec);
    yield* freshAssets(spec);
  } else throw new Error(`unknown scenario kind ${spec.kind}`);
}
