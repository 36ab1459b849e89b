// V8 settings of the constellr-sync process, applied before any HTTP client exists.
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
