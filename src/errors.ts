/**
 * Errors tidal expects to happen. The CLI prints their message (no stack trace) and exits with
 * `exitCode`: 2 for bad input, 1 for an operation that failed.
 */
export abstract class TidalError extends Error {
  abstract readonly exitCode: 1 | 2;
}

/** Bad input: usage, an unreadable or invalid migration file, an object that does not exist. */
export class InputError extends TidalError {
  readonly exitCode = 2 as const;
  override name = 'InputError';
}

/** A database error, a lock never obtained, a failed verification. */
export class OperationError extends TidalError {
  readonly exitCode = 1 as const;
  override name = 'OperationError';
}

/** Another tidal process holds the advisory lock on this database. */
export class BusyError extends OperationError {
  override name = 'BusyError';
}

/** A statement kept timing out on its lock until the retry deadline passed. */
export class LockTimeoutError extends OperationError {
  override name = 'LockTimeoutError';
}

/** The message of any thrown value, for wrapping errors of other libraries. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** SQLSTATE classes and codes, and socket errors, that mean the connection itself is gone
 *  (server shut down or restarted, network cut): nothing more can be done on it. */
const CONNECTION_LOST_CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  'ECONNRESET',
  'EPIPE',
  'ECONNREFUSED',
]);

/** Whether `error`, or the error it wraps (`cause`), says the connection is gone. */
export function isConnectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && (CONNECTION_LOST_CODES.has(code) || code.startsWith('08')))
    return true;
  if (/Connection terminated|Client was closed|not queryable/i.test(messageOf(error))) return true;
  const cause = (error as { cause?: unknown })?.cause;
  return cause !== undefined && isConnectionLost(cause);
}
