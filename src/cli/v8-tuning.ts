// V8 settings of the constellr-sync process, applied at start-up, before any HTTP client exists and
// before the heap has grown. Each one is a flag V8 reads while running (at a compilation or a garbage
// collection), so setting it here works; flags read only when the heap is created
// (--max-semi-space-size) would not, and are not used.
import v8 from 'node:v8';

/**
 * Keep WebAssembly at V8's baseline compiler (Liftoff). undici parses HTTP with llhttp compiled to
 * WebAssembly, and V8 tiers its hot functions up to TurboFan in the background: that compilation
 * took ~35 MiB of resident memory for a moment in every process that made a request (peak RSS of a
 * `sync` with nothing to do: 127 → 92 MiB; see bench/README.md "Memory"). Nothing else here is
 * WebAssembly, and the parser is not what bounds a transfer.
 */
export function limitWasmTiering(): void {
  v8.setFlagsFromString('--liftoff-only');
}

/**
 * Keep the heap close to what is alive. A download's objects live across a few awaits, so many
 * survive two scavenges and are promoted: with V8's defaults the old space grew from ~20 MiB alive to
 * ~95 MiB before each full collection, and the young generation to 2 × 16 MiB, for a peak RSS of
 * ~200 MiB in 10,000 small downloads. The young generation stays at its initial size (growth factor
 * 1) and the old space may grow by half of what survived the last full collection before the next
 * one: 113 MiB peak, at the same speed (bench/README.md, "Results (2026-12-02, second session…)").
 */
export function limitHeapGrowth(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  v8.setFlagsFromString('--heap-growing-percent=50');
}
