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
