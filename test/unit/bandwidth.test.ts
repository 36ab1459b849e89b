import { describe, expect, it } from 'vitest';
import { BandwidthLimiter } from '../../src/sync/bandwidth.js';
import { describeRate, localTime, parseTimetable, rateAt } from '../../src/config/timetable.js';
import { configSchema } from '../../src/config/schema.js';

const MiB = 1024 * 1024;
const KiB = 1024;

/** A fake clock whose sleep advances time instead of waiting. */
function fakeTime(start: number) {
  let now = start;
  const sleeps: number[] = [];
  return {
    clock: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    sleeps,
    sleep: async (ms: number, signal: AbortSignal) => {
      if (signal.aborted) return;
      sleeps.push(ms);
      now += ms;
    },
  };
}

// 2026-11-23 is a Monday.
const MON_0900_UTC = Date.UTC(2026, 10, 23, 9, 0, 0);
const HOUR = 3_600_000;

describe('timetable parsing', () => {
  it('parses plain rates and unlimited', () => {
    expect(rateAt(parseTimetable('10MiB/s'), MON_0900_UTC, 'UTC')).toBe(10 * MiB);
    expect(rateAt(parseTimetable('512k'), MON_0900_UTC, 'UTC')).toBe(512 * KiB);
    expect(rateAt(parseTimetable(2_000_000), MON_0900_UTC, 'UTC')).toBe(2_000_000);
    expect(rateAt(parseTimetable('unlimited'), MON_0900_UTC, 'UTC')).toBeNull();
    expect(rateAt(parseTimetable('0'), MON_0900_UTC, 'UTC')).toBeNull();
  });

  it('rejects malformed timetables with a message naming the problem', () => {
    expect(() => parseTimetable('Mon-Fri 08:00-18:00 fast')).toThrow(/invalid rate "fast"/);
    expect(() => parseTimetable('Mox 08:00-18:00 1MiB/s')).toThrow(/unknown weekday "Mox"/);
    expect(() => parseTimetable('Mon 25:00-18:00 1MiB/s')).toThrow(/invalid time "25:00"/);
    expect(() => parseTimetable('1MiB/s; otherwise 2MiB/s')).toThrow(/more than one "otherwise"/);
    expect(() => parseTimetable('  ')).toThrow(/empty/);
  });

  it('the config accepts a timetable and names the key when it is wrong', () => {
    const ok = configSchema.parse({ sync: { bandwidth: 'Mon-Fri 08:00-18:00 10MiB/s; otherwise unlimited' } });
    expect(ok.sync.bandwidth.source).toBe('Mon-Fri 08:00-18:00 10MiB/s; otherwise unlimited');
    expect(configSchema.parse({}).sync.bandwidth).toMatchObject({ source: 'unlimited', rules: [], fallback: null });
    const bad = configSchema.safeParse({ sync: { bandwidth: 'Mon-Fri 8-18 10MiB/s' } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path.join('.')).toBe('sync.bandwidth');
    const tz = configSchema.safeParse({ sync: { timezone: 'Mars/Olympus_Mons' } });
    expect(tz.success).toBe(false);
    expect(tz.error!.issues[0]!.path.join('.')).toBe('sync.timezone');
  });
});

describe('timetable selection with injected time', () => {
  const t = parseTimetable('Mon-Fri 08:00-18:00 10MiB/s; Sat,Sun 1MiB/s; otherwise unlimited');

  it('applies the weekday window, the weekend rule and the fallback', () => {
    expect(rateAt(t, MON_0900_UTC, 'UTC')).toBe(10 * MiB); // Mon 09:00
    expect(rateAt(t, MON_0900_UTC - 61 * 60_000, 'UTC')).toBeNull(); // Mon 07:59
    expect(rateAt(t, MON_0900_UTC - HOUR, 'UTC')).toBe(10 * MiB); // Mon 08:00 (inclusive)
    expect(rateAt(t, MON_0900_UTC + 9 * HOUR, 'UTC')).toBeNull(); // Mon 18:00 (exclusive)
    expect(rateAt(t, MON_0900_UTC + 4 * 24 * HOUR, 'UTC')).toBe(10 * MiB); // Fri 09:00
    expect(rateAt(t, MON_0900_UTC + 5 * 24 * HOUR, 'UTC')).toBe(1 * MiB); // Sat 09:00
    expect(rateAt(t, MON_0900_UTC - 24 * HOUR + 14 * HOUR, 'UTC')).toBe(1 * MiB); // Sun 23:00
  });

  it('evaluates in the configured timezone', () => {
    // 09:00 UTC on Monday is 18:00 in Tokyo (outside the window) and 04:00 in New York (outside too).
    expect(localTime(MON_0900_UTC, 'Asia/Tokyo')).toEqual({ day: 1, minute: 18 * 60 });
    expect(rateAt(t, MON_0900_UTC, 'Asia/Tokyo')).toBeNull();
    expect(rateAt(t, MON_0900_UTC, 'America/New_York')).toBeNull();
    // 13:00 UTC is 08:00 in New York (EST, UTC-5 in November): inside.
    expect(rateAt(t, MON_0900_UTC + 4 * HOUR, 'America/New_York')).toBe(10 * MiB);
  });

  it('a range that wraps midnight belongs to the day it starts on', () => {
    const night = parseTimetable('Fri 22:00-06:00 unlimited; otherwise 1MiB/s');
    const fri2300 = MON_0900_UTC + 4 * 24 * HOUR + 14 * HOUR;
    expect(rateAt(night, fri2300, 'UTC')).toBeNull();
    expect(rateAt(night, fri2300 + 6 * HOUR, 'UTC')).toBeNull(); // Sat 05:00
    expect(rateAt(night, fri2300 + 8 * HOUR, 'UTC')).toBe(MiB); // Sat 07:00
    expect(rateAt(night, MON_0900_UTC - 4 * HOUR, 'UTC')).toBe(MiB); // Mon 05:00 (Sunday night not covered)
  });

  it('describes rates for humans', () => {
    expect(describeRate(null)).toBe('unlimited');
    expect(describeRate(2 * MiB)).toBe('2.0 MiB/s');
  });
});

describe('BandwidthLimiter (token bucket)', () => {
  it('holds the aggregate of several workers to the rate, smoothly', async () => {
    const ft = fakeTime(MON_0900_UTC);
    const rate = 1 * MiB;
    const lim = new BandwidthLimiter({ timetable: parseTimetable(rate), timeZone: 'UTC', clock: ft.clock, sleep: ft.sleep });
    const chunk = 64 * KiB;
    const perWorker = 64; // 4 MiB per worker
    const t0 = ft.clock();
    const workers = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < perWorker; i++) await lim.take(chunk);
    });
    await Promise.all(workers);
    const elapsed = (ft.clock() - t0) / 1000;
    const total = 4 * perWorker * chunk;
    // 16 MiB at 1 MiB/s: 16 s minus at most the initial burst (0.1 s or one chunk).
    expect(elapsed).toBeGreaterThan((total - 128 * KiB) / rate - 0.01);
    expect(elapsed).toBeLessThan(total / rate + 0.3);
    // Smooth: no single sleep longer than the slice, and never a long free run.
    expect(Math.max(...ft.sleeps)).toBeLessThanOrEqual(250);
    expect(lim.passed).toBe(total);
  });

  it('does not let idle time turn into a burst', async () => {
    const ft = fakeTime(MON_0900_UTC);
    const lim = new BandwidthLimiter({ timetable: parseTimetable('1MiB/s'), timeZone: 'UTC', clock: ft.clock, sleep: ft.sleep });
    ft.advance(60_000); // a minute idle
    const t0 = ft.clock();
    for (let i = 0; i < 32; i++) await lim.take(32 * KiB); // 1 MiB
    const elapsed = ft.clock() - t0;
    // at most ~0.1 s of credit was banked, so 1 MiB still takes about 0.9 s
    expect(elapsed).toBeGreaterThanOrEqual(850);
  });

  it('serves waiters in arrival order', async () => {
    const ft = fakeTime(MON_0900_UTC);
    const lim = new BandwidthLimiter({ timetable: parseTimetable('100KiB/s'), timeZone: 'UTC', clock: ft.clock, sleep: ft.sleep, minBurstBytes: 1 });
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map(async (i) => lim.take(50 * KiB).then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('follows the timetable: limited in the window, unlimited after it', async () => {
    // Mon 17:59:58 UTC, window ends at 18:00
    const ft = fakeTime(MON_0900_UTC + 9 * HOUR - 2000);
    const lim = new BandwidthLimiter({
      timetable: parseTimetable('Mon-Fri 08:00-18:00 100KiB/s; otherwise unlimited'),
      timeZone: 'UTC',
      clock: ft.clock,
      sleep: ft.sleep,
    });
    expect(lim.rate()).toBe(100 * KiB);
    const t0 = ft.clock();
    // 1 MiB would take ~10 s at 100 KiB/s, but the window closes after 2 s
    for (let i = 0; i < 16; i++) await lim.take(64 * KiB);
    const elapsed = ft.clock() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThanOrEqual(2000 + 250);
    expect(lim.rate()).toBeNull();
    const before = ft.sleeps.length;
    for (let i = 0; i < 100; i++) await lim.take(MiB);
    expect(ft.sleeps.length).toBe(before); // unlimited: no waiting at all
  });

  it('a new timetable (reload) takes effect for waiters already sleeping', async () => {
    let now = MON_0900_UTC;
    const pending: { resolve: () => void; ms: number }[] = [];
    const lim = new BandwidthLimiter({
      timetable: parseTimetable('1KiB/s'),
      timeZone: 'UTC',
      clock: () => now,
      minBurstBytes: 1,
      sleep: (ms, signal) =>
        new Promise<void>((resolve) => {
          const entry = { resolve, ms };
          pending.push(entry);
          signal.addEventListener('abort', () => resolve(), { once: true });
        }),
    });
    let done = false;
    const p = lim.take(10 * MiB).then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(pending.length).toBe(1);
    expect(done).toBe(false);
    now += 10;
    lim.setTimetable(parseTimetable('unlimited'));
    await p;
    expect(done).toBe(true);
  });

  it('close() releases waiters', async () => {
    const lim = new BandwidthLimiter({ timetable: parseTimetable('1KiB/s'), timeZone: 'UTC' });
    const p = lim.take(10 * MiB);
    lim.close();
    await expect(p).resolves.toBeUndefined();
  });
});
