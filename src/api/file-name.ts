// A download's file name as Constellr documents it: the name in Content-Disposition, else the last
// path segment of the URL that answered. Both are untrusted network input: a name is one plain file
// name or nothing (the caller then keeps its own), never a path.

import type { DownloadParams, DownloadResponse } from './client.js';
import { isSyncError } from '../errors.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** The header's parameters (name lower-cased → raw value, quotes and escapes undone). */
function parameters(header: string): Map<string, string> {
  const out = new Map<string, string>();
  // disposition-type, then ; name=value pairs; a value is a token or a quoted-string
  const re = /;\s*([^\s=;]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]*)/g;
  for (let m = re.exec(header); m !== null; m = re.exec(header)) {
    const name = m[1]!.toLowerCase();
    if (out.has(name)) continue; // the first one counts
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]!.trim();
    out.set(name, value);
  }
  return out;
}

/** RFC 8187 ext-value (`UTF-8''na%C3%AFve.tiff`): the decoded text, or null. */
function extValue(v: string): string | null {
  const m = /^([A-Za-z0-9!#$%&+^_`{}~-]+)'[A-Za-z0-9-]*'(.*)$/.exec(v);
  if (!m) return null;
  const charset = m[1]!.toLowerCase();
  try {
    if (charset === 'utf-8') return decodeURIComponent(m[2]!);
    if (charset === 'iso-8859-1') return m[2]!.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  } catch {
    return null;
  }
  return null;
}

/**
 * The file name a Content-Disposition header gives, as Constellr's download script reads it: the
 * `filename` parameter first (quoted or a token), else `filename*` (RFC 8187). Unsafe or empty → null.
 */
export function fileNameFromDisposition(header: string | null | undefined): string | null {
  if (!header) return null;
  const p = parameters(header);
  const plain = p.get('filename');
  if (plain !== undefined) {
    const raw = /^".*"$/.test(plain) ? plain.slice(1, -1) : plain;
    const name = safeFileName(raw);
    if (name) return name;
  }
  const ext = p.get('filename*');
  return ext !== undefined ? safeFileName(extValue(ext.replace(/^"(.*)"$/, '$1')) ?? '') : null;
}

/** The last path segment of a URL, percent-decoded, when it is a usable file name; else null. */
export function fileNameFromUrl(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const last = u.pathname.split('/').at(-1) ?? '';
  let name = last;
  try {
    name = decodeURIComponent(last);
  } catch {
    /* not valid percent-encoding: as it is */
  }
  return safeFileName(name);
}

/**
 * One plain file name from untrusted text, or null. Only the part after the last `/` or `\` counts
 * (a header naming `../../etc/passwd` names `passwd`); blanks around it go; a name with a control
 * character, an empty one, `.` and `..` are refused. Reserved mirror names and over-long names are the
 * mirror's path rules' business (the name becomes one segment of a key).
 */
export function safeFileName(text: string): string | null {
  const base = text.split(/[/\\]/).at(-1)!.trim();
  if (base === '' || base === '.' || base === '..' || CONTROL.test(base)) return null;
  return base.normalize('NFC');
}

/** Whether a path segment reads as a file name (it has an extension) rather than an opaque object id. */
export function looksLikeFileName(segment: string): boolean {
  return /[^.]\.[A-Za-z0-9]{1,10}$/.test(segment);
}

/**
 * The name the server gives a download, read from a request for its first byte (the body is not
 * read): Content-Disposition, else the answering URL's last path segment. An empty file (416 to a
 * range) is asked for whole.
 */
export async function probeFileName(download: (p: DownloadParams) => Promise<DownloadResponse>, signal?: AbortSignal): Promise<string | null> {
  let res: DownloadResponse;
  try {
    res = await download({ rangeStart: 0, rangeEnd: 0, signal });
  } catch (e) {
    if (!isSyncError(e) || e.status !== 416) throw e;
    res = await download({ signal });
  }
  // One byte (or, from a server that ignores Range, the first 64 KiB before the connection is cut).
  await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
  return fileNameFromDisposition(res.contentDisposition) ?? fileNameFromUrl(res.url);
}

/** The Content-Disposition name when it differs from the name in the URL's path; else null. */
export function otherName(url: URL, disposition: string | null): string | null {
  const given = fileNameFromDisposition(disposition);
  return given !== null && given !== fileNameFromUrl(url.href) ? given : null;
}
