// Durations and sizes as people write them in YAML and env vars: "30s", "5m", "1h", "250ms", "1d";
// sizes "10MiB", "512k", "1.5GB". Plain numbers are seconds (durations) or bytes (sizes).

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`invalid duration ${input}`);
    return Math.round(input * 1000);
  }
  const s = input.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const parts = s.match(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/g);
  if (!parts || parts.join('').replace(/\s/g, '') !== s.replace(/\s/g, ''))
    throw new Error(`invalid duration "${input}" (use e.g. 500ms, 30s, 5m, 1h, 1d)`);
  let total = 0;
  for (const p of parts) {
    const m = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/.exec(p)!;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  }
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`invalid size ${input}`);
    return Math.floor(input);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = (m?.[2] ?? '').toLowerCase() || 'b';
  if (!m || !(unit in SIZE_UNITS)) throw new Error(`invalid size "${input}" (use e.g. 512k, 10MiB, 2GB)`);
  return Math.floor(Number(m[1]) * SIZE_UNITS[unit]!);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * A duration for humans: 250ms, 4.2s, 1m05s, 2h03m. Each unit rounds first and then carries, so a
 * value just under a boundary never prints as "60.0s" or "1m60s".
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  // toFixed(1) would print 59.95 s and above as "60.0s": those are a minute.
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(ms / 60_000);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
