// The nginx plane of `npm run bench -- --plane nginx`: a generated directory of files served by
// Debian's nginx, started by the bench as a foreground process with a config the bench writes, so
// every tool downloads the same bytes from a server whose cost is small and the same for all of them.
//
//   POST /token          → a static {"access_token": …} (`return 200`, no credential check)
//   GET  /assets         → ONE listing page, a static JSON file (Contents with Key, LastModified, Size,
//                          ETag equal to nginx's own ETag; IsTruncated false); query parameters ignored
//   GET  /assets/<key>   → the file, with `sendfile`, ETag/Last-Modified and Range (nginx defaults)
//   GET  /assets/…/      → nginx's autoindex (HTML), which `rclone copy :http:` walks
//
// The content of every file is an AES-128-CTR keystream with a per-file IV (fast, incompressible,
// different in every file). Files are made durable (`sync -f`) before any tool runs, so no tool's
// `sync` pays for the generator's dirty pages. When the bench runs as root, nginx runs as `nobody`
// (spawned with that uid/gid), never as root.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const NOBODY = 65534;

/** The nginx binary ($NGINX_BIN when set), or null. /usr/sbin is often missing from a user's PATH. */
export function findNginx() {
  if (process.env.NGINX_BIN) return existsSync(process.env.NGINX_BIN) ? process.env.NGINX_BIN : null;
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/sbin']) {
    const p = path.join(dir, 'nginx');
    if (existsSync(p)) return p;
  }
  return null;
}

/** `nginx/1.22.1`, or null when it cannot run. `nginx -v` prints on stderr. */
export function nginxVersion(bin) {
  if (!bin) return null;
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return /nginx\/\S+/.exec(`${r.stderr}${r.stdout}`)?.[0] ?? null;
}

function killGroup(child, sig) {
  try {
    process.kill(-child.pid, sig);
  } catch {
    child.kill(sig);
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A key becomes a path under the served directory; refuse anything that could leave it. */
function safeRelPath(key) {
  if (typeof key !== 'string' || !key || key.startsWith('/') || key.includes('\0') || key.includes('\\')) throw new Error(`unsafe key for the nginx plane: ${JSON.stringify(key)}`);
  const segs = key.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) throw new Error(`unsafe key for the nginx plane: ${JSON.stringify(key)}`);
  return path.join(...segs);
}

const KEY = Buffer.alloc(16, 0x5a);
const CHUNK = 4 * 1024 * 1024;

async function writeContent(file, size, index) {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index >>> 0, 0);
  iv.writeUInt32BE(Math.floor(index / 2 ** 32), 4);
  const c = createCipheriv('aes-128-ctr', KEY, iv);
  const fh = await fsp.open(file, 'w', 0o644);
  try {
    const zeros = Buffer.alloc(Math.min(CHUNK, Math.max(size, 1)));
    for (let done = 0; done < size; ) {
      const n = Math.min(zeros.length, size - done);
      const buf = c.update(n === zeros.length ? zeros : zeros.subarray(0, n));
      await fh.write(buf, 0, buf.length, done);
      done += n;
    }
  } finally {
    await fh.close();
  }
}

/** nginx's default ETag: "<mtime seconds, hex>-<size, hex>". */
const nginxEtag = (mtimeS, size) => `"${mtimeS.toString(16)}-${size.toString(16)}"`;

function config({ dir, www, port, token }) {
  const t = (n) => path.join(dir, 'temp', n);
  return `# written by bench/nginx-plane.mjs
daemon off;
master_process on;
worker_processes auto;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  open_file_cache max=20000 inactive=120s;
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  types { application/json json; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
    root ${www};
    location = /token {
      default_type application/json;
      return 200 '${JSON.stringify({ access_token: token, token_type: 'bearer', expires_in: 86400 })}';
    }
    location = /assets {
      default_type application/json;
      alias ${path.join(www, 'listing.json')};
    }
    location /assets/ {
      autoindex on;
      autoindex_exact_size on;
    }
    location / { return 404; }
  }
}
`;
}

async function waitReady(url, child, errLog, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await fsp.readFile(errLog, 'utf8').catch(() => '');
      throw new Error(`nginx exited (${child.exitCode ?? child.signalCode}) before answering: ${(child.stderrText + log).trim().split('\n').slice(-3).join(' | ')}`);
    }
    try {
      const res = await fetch(`${url}/token`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(1000) });
      if (res.ok) return (await res.json()).access_token;
    } catch {}
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The plane's promises, checked on one file: the listed ETag and size, and a 206 for a Range. */
async function checkPlane(url, contents) {
  const a = contents.find((c) => c.Size > 0);
  if (!a) return;
  const u = `${url}/assets/${a.Key.split('/').map(encodeURIComponent).join('/')}`;
  const head = await fetch(u, { method: 'HEAD' });
  if (head.status !== 200 || head.headers.get('etag') !== a.ETag || Number(head.headers.get('content-length')) !== a.Size) {
    throw new Error(`nginx plane self-check: HEAD ${a.Key} → ${head.status}, ETag ${head.headers.get('etag')} (listed ${a.ETag}), length ${head.headers.get('content-length')} (listed ${a.Size})`);
  }
  const part = await fetch(u, { headers: { range: 'bytes=0-0', 'if-range': a.ETag } });
  const body = Buffer.from(await part.arrayBuffer());
  if (part.status !== 206 || body.length !== 1 || part.headers.get('content-range') !== `bytes 0-0/${a.Size}`) {
    throw new Error(`nginx plane self-check: Range request for ${a.Key} → ${part.status} ${part.headers.get('content-range')}`);
  }
  const list = await fetch(`${url}/assets?limit=1000`);
  if (list.status !== 200 || !/^application\/json/.test(list.headers.get('content-type') ?? '')) throw new Error(`nginx plane self-check: GET /assets → ${list.status} ${list.headers.get('content-type')}`);
  await list.arrayBuffer();
}

/**
 * Generate the files of `assets` ({key, size, lastModified ms}) under `dir`, write the config, start
 * nginx on a free loopback port and wait until it answers. Returns the same shape as the simulator
 * plane ({url, username, password, token, assets: [[key, size]], stop()}) plus `assetsUrl` (the
 * autoindex root for rclone), `generateS` and `errorLog`.
 */
export async function startNginxPlane({ bin, dir, assets, onChild, onExit }) {
  const www = path.join(dir, 'www');
  const t0 = performance.now();
  await fsp.mkdir(path.join(www, 'assets'), { recursive: true });
  for (const n of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await fsp.mkdir(path.join(dir, 'temp', n), { recursive: true });
  const contents = [];
  const list = [];
  const dirs = new Set();
  let i = 0;
  const queue = [];
  for (const a of assets) {
    const rel = safeRelPath(a.key);
    const mtimeS = Math.floor(a.lastModified / 1000);
    const idx = i++;
    const file = path.join(www, 'assets', rel);
    const parent = path.dirname(file);
    if (!dirs.has(parent)) {
      dirs.add(parent);
      await fsp.mkdir(parent, { recursive: true });
    }
    queue.push(
      writeContent(file, a.size, idx).then(() => fsp.utimes(file, mtimeS, mtimeS)),
    );
    if (queue.length >= 16) await Promise.all(queue.splice(0));
    contents.push({ Key: a.key, LastModified: new Date(mtimeS * 1000).toISOString().replace('.000Z', 'Z'), Size: a.size, ETag: nginxEtag(mtimeS, a.size) });
    list.push([a.key, a.size]);
  }
  await Promise.all(queue);
  await fsp.writeFile(path.join(www, 'listing.json'), JSON.stringify({ Contents: contents, KeyCount: contents.length, MaxKeys: contents.length, IsTruncated: false }));
  // make the generated files durable now, so no measured `sync -f` flushes them
  execFileSync('sync', ['-f', www]);
  const generateS = (performance.now() - t0) / 1000;

  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (asRoot) {
    // nginx runs as nobody: it must traverse the work directories (not list them), and own its own
    for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
      const st = await fsp.stat(d);
      if ((st.mode & 0o001) === 0) await fsp.chmod(d, (st.mode & 0o777) | 0o711);
      if (d === '/tmp' || d === path.parse(d).root) break;
    }
    for (const n of ['temp', ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((x) => path.join('temp', x))]) await fsp.chown(path.join(dir, n), NOBODY, NOBODY);
    await fsp.chown(dir, NOBODY, NOBODY);
  }

  const token = 'bench-static-token';
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const confFile = path.join(dir, 'nginx.conf');
    const errLog = path.join(dir, 'error.log');
    await fsp.writeFile(confFile, config({ dir, www, port, token }));
    const child = spawn(bin, ['-p', `${dir}/`, '-c', confFile, '-e', errLog], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // its own process group: master and workers are stopped together
      ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    child.stderrText = '';
    child.stderr.on('data', (d) => (child.stderrText += d));
    onChild?.(child);
    const url = `http://127.0.0.1:${port}`;
    try {
      const got = await waitReady(url, child, errLog);
      if (got !== token) throw new Error('nginx answered /token with an unexpected body');
      await checkPlane(url, contents);
      return {
        url,
        assetsUrl: `${url}/assets/`,
        username: 'bench',
        password: 'bench-password',
        token,
        assets: list,
        generateS,
        errorLog: errLog,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            const exited = new Promise((r) => child.once('exit', r));
            killGroup(child, 'SIGTERM'); // fast shutdown of master and workers
            const t = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
            await exited;
            clearTimeout(t);
          }
          onExit?.(child);
        },
      };
    } catch (e) {
      lastErr = e;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        killGroup(child, 'SIGKILL');
        await exited;
      }
      onExit?.(child);
      let log = '';
      try {
        log = readFileSync(errLog, 'utf8');
      } catch {}
      if (!/Address already in use/.test(log + child.stderrText)) break; // only a lost port race is worth a retry
    }
  }
  throw lastErr;
}
