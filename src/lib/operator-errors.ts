// Errors an operator causes and must fix (a path that is a file, no permission, a read-only mount, a busy
// port, a state file SQLite cannot open), told in plain words on one line (exit 2) instead of an
// `unexpected error` with a stack trace. Apart from errors.ts, which may import nothing and is at its size limit.
import { SyncError } from '../errors.js';

/**
 * Filesystem problems an operator causes and must fix (a path that is a file, no permission, a
 * read-only mount, a state file SQLite cannot open), by code, in plain words. Anything else is not
 * the operator's: it stays as it was thrown.
 */
const OPERATOR_FS_REASONS: Record<string, string> = {
  ENOTDIR: 'a file is in the way (not a directory)',
  EEXIST: 'a file is in the way (not a directory)',
  EISDIR: 'a directory is where a file should be',
  EACCES: 'permission denied (check its owner and mode)',
  EPERM: 'operation not permitted (check its owner and mode)',
  EROFS: 'read-only filesystem',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'path too long',
  ENOENT: 'no such file or directory (or a parent directory is missing)',
  SQLITE_CANTOPEN: 'SQLite cannot open its database there',
  SQLITE_READONLY: 'the state database is read-only',
  SQLITE_NOTADB: 'the state file is not a SQLite database',
  SQLITE_CORRUPT: 'the state database is corrupt (restore it from a backup, or move it away to start over)',
  SQLITE_PERM: 'permission denied (check its owner and mode)',
  SQLITE_AUTH: 'permission denied (check its owner and mode)',
  SQLITE_FULL: 'no space left on the device (SQLITE_FULL): free some space there and start again',
};

/** `cannot use <what> <path>: <reason>` (exit 2) for an operator-caused filesystem error, else null. */
export function operatorFsError(what: string, dir: string, e: unknown): SyncError | null {
  if (e instanceof SyncError) return null;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  const reason = OPERATOR_FS_REASONS[code] ?? (code.startsWith('SQLITE_CANTOPEN') ? OPERATOR_FS_REASONS.SQLITE_CANTOPEN : code.startsWith('SQLITE_READONLY') ? OPERATOR_FS_REASONS.SQLITE_READONLY : undefined);
  if (!reason) return null;
  return new SyncError(`cannot use ${what} ${dir}: ${reason}`, { code: 'SYNC_FS_UNUSABLE', cause: e });
}

/** Verbs for the system calls an operator's file mistakes show up in (`cannot open /x: …`). */
const SYSCALL_VERBS: Record<string, string> = { open: 'open', mkdir: 'create the directory', rename: 'rename to', unlink: 'remove', rmdir: 'remove', scandir: 'read the directory', stat: 'find', lstat: 'find', access: 'use', copyfile: 'copy to', read: 'read', write: 'write to' };

/**
 * An expected OS error that reached a command's top level without a better message (a missing
 * --output directory, a read-only mount, a busy port): one line naming the path or address, exit 2,
 * instead of an `unexpected error` with a stack trace. Null for anything else (a bug: keep the stack).
 */
export function operatorOsError(e: unknown): SyncError | null {
  if (e instanceof SyncError || typeof e !== 'object' || e === null) return null;
  const x = e as { code?: unknown; syscall?: unknown; path?: unknown; dest?: unknown; address?: unknown; port?: unknown };
  if (typeof x.code !== 'string' || typeof x.syscall !== 'string') return null;
  if (x.syscall === 'listen' || x.syscall === 'bind') {
    const where = `${typeof x.address === 'string' ? x.address : ''}${typeof x.port === 'number' ? `:${x.port}` : ''}`;
    const why = x.code === 'EADDRINUSE' ? 'the address is already in use' : x.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : x.code === 'EADDRNOTAVAIL' ? 'no such address on this host' : null;
    return why === null ? null : new SyncError(`cannot listen on ${where}: ${why} (${x.code})`, { code: 'SYNC_HTTP_LISTEN', cause: e });
  }
  const reason = x.code === 'ENOSPC' || x.code === 'EDQUOT' ? 'no space left on the device' : OPERATOR_FS_REASONS[x.code];
  if (reason === undefined || typeof x.path !== 'string') return null;
  const target = typeof x.dest === 'string' ? x.dest : x.path;
  return new SyncError(`cannot ${SYSCALL_VERBS[x.syscall] ?? x.syscall} ${target}: ${reason} (${x.code})`, { code: 'SYNC_FS_UNUSABLE', cause: e });
}
