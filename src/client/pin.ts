/**
 * A release pins the version it is built for: from its migrations folder when it is built (the
 * newest file, as `tidal migrate` orders them), or from an environment variable at run time.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { InputError, messageOf } from '../errors.js';

/** The environment variable a deployment sets to choose the version. */
export const VERSION_VARIABLE = 'TIDAL_VERSION';

const MIGRATION_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * The newest migration of `dir`: the name, without extension, of its last migration file
 * (`.yaml`, `.yml`, `.json`) in file-name order, the order `tidal migrate` runs them in.
 * Undefined for a folder without any: the release is built for the base version. Synchronous,
 * for build scripts.
 */
export function newestMigration(dir: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    throw new InputError(`${dir}: cannot read migrations directory: ${messageOf(error)}`);
  }
  const files = entries
    .filter((entry) => !entry.startsWith('.') && MIGRATION_EXTENSIONS.has(extname(entry)))
    .filter((entry) => statSync(join(dir, entry)).isFile())
    // By UTF-16 code unit, as `tidal migrate` sorts: not by locale.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const newest = files.at(-1);
  return newest === undefined ? undefined : newest.slice(0, -extname(newest).length);
}

/**
 * The version to run: `TIDAL_VERSION` when the environment sets it, else `built` (what the build
 * pinned). Fails naming both when neither is there.
 */
export function releaseVersion(
  built?: string,
  env: Record<string, string | undefined> = process.env,
): string {
  const chosen = env[VERSION_VARIABLE]?.trim() || built?.trim();
  if (!chosen) {
    throw new InputError(
      `no version for this release: set ${VERSION_VARIABLE}, or pin the newest migration at build time (newestMigration('migrations'))`,
    );
  }
  return chosen;
}
