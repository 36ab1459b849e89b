// V8 settings of the constellr-sync process, applied at start-up, before any HTTP client exists and
// before the heap has grown. Each one is a flag V8 reads while running (at a compilation or a garbage
// collection), so setting it here works; flags read only when the heap is created
// (--max-semi-space-size) would not, and are not used.
// `--liftoff-only` (WebAssembly kept at V8's baseline compiler) saved ~35 MiB per process on Node 20
// and nothing on 22, 24 or 26 (bench/README.md, "V8 flags on the supported lines"): removed.
import v8 from 'node:v8';

/**
 * Keep the heap close to what is alive. A download's objects live across a few awaits, so many
 * survive two scavenges and are promoted: with V8's defaults the old space grew from ~20 MiB alive to
 * ~95 MiB before each full collection, and the young generation to 2 × 16 MiB, for a peak RSS of
 * ~200 MiB in 10,000 small downloads. The young generation stays at its initial size (growth factor
 * 1) and the old space may grow by half of what survived the last full collection before the next
 * one: 113 MiB peak, at the same speed (bench/README.md, "Results (2026-12-02, second session…)").
 * Still so on Node 24 (4 × 16 MiB: 135–145 against 169–181 MiB; 300 small files: 122–123 against
 * 136–138 MiB; bench/README.md, "V8 flags on the supported lines").
 */
export function limitHeapGrowth(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  v8.setFlagsFromString('--heap-growing-percent=50');
}
