// A preload for one measured process: at exit it prints, on stderr, the CPU seconds of each thread
// (from /proc/self/task/*/stat, summed by thread name: MainThread, libuv-worker, V8Worker for the
// garbage collector's helpers, WorkerThread for the hash thread) and the peak of each field of
// process.memoryUsage() (sampled every 50 ms). Linux only.
//
//   node --import ./bench/thread-mem.mjs dist/cli/main.js sync …
import fs from 'node:fs';

const TICKS = 100; // USER_HZ
const threads = new Map();
const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };

function sampleThreads() {
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      const s = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      threads.set(t, { name, user: Number(f[11]) / TICKS, sys: Number(f[12]) / TICKS });
    } catch {
      // the thread ended between the listing and the read: its last sample stays
    }
  }
}

setInterval(() => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], m[k]);
}, 50).unref();
setInterval(sampleThreads, 200).unref();

process.on('exit', () => {
  sampleThreads();
  const by = new Map();
  for (const { name, user, sys } of threads.values()) {
    const o = by.get(name) ?? { user: 0, sys: 0, n: 0 };
    o.user += user;
    o.sys += sys;
    o.n++;
    by.set(name, o);
  }
  const mib = (n) => (n / 1048576).toFixed(0);
  const cpu = [...by].filter(([, v]) => v.user + v.sys > 0).map(([k, v]) => `${k} ×${v.n} ${v.user.toFixed(2)} user + ${v.sys.toFixed(2)} sys`);
  fs.writeSync(2, `thread-mem: CPU s ${cpu.join(', ')}\n`);
  fs.writeSync(2, `thread-mem: peak MiB ${Object.entries(peak).map(([k, v]) => `${k} ${mib(v)}`).join(', ')}, maxRSS ${mib(process.resourceUsage().maxRSS * 1024)}\n`);
});
