/**
 * The migration chains the tests run: the project's own (test/fixtures/chain), always, and
 * pgroll's examples, when their folder is there (it lives outside the repository).
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type LoadedMigration,
  listMigrationFiles,
  loadMigrationFile,
} from '../../src/migration/load.js';

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The project's own chain: every operation kind and every field of the format. */
export const OWN_CHAIN_DIR = join(repositoryRoot, 'test', 'fixtures', 'chain');

/** Own chain files that need a newer server than the oldest tidal supports, by migration name. */
const OWN_CHAIN_MINIMUM_MAJOR: Record<string, number> = {
  // NULLS NOT DISTINCT and ON DELETE SET NULL (columns) are PostgreSQL 15's syntax.
  '21_returns': 15,
};

export interface PgrollExamples {
  dir: string;
  found: boolean;
  /** Why the pgroll chain does not run, or undefined when it does. */
  skipped?: string;
}

const PGROLL_EXAMPLES_DEFAULT = '../shared/compat/pgroll-examples'; // TIDAL_PGROLL_EXAMPLES default

/**
 * pgroll's example chain: the folder TIDAL_PGROLL_EXAMPLES names (relative to the repository
 * root), by default one beside the repository, there locally and in CI but not in a fresh clone.
 * When it is absent the pgroll runs are skipped, saying so.
 */
export function pgrollExamples(): PgrollExamples {
  const dir = resolve(repositoryRoot, process.env.TIDAL_PGROLL_EXAMPLES || PGROLL_EXAMPLES_DEFAULT);
  if (existsSync(dir)) return { dir, found: true };
  const skipped = `skipped: TIDAL_PGROLL_EXAMPLES folder ${dir} not found`;
  console.info(`pgroll example chain ${skipped}`);
  return { dir, found: false, skipped };
}

/** The migration files of `dir`, loaded, in the order `migrate` runs them. */
export async function loadChain(dir: string): Promise<LoadedMigration[]> {
  return Promise.all((await listMigrationFiles(dir)).map(loadMigrationFile));
}

/** A chain's files: those that run here, in order, and those left out, each with the reason. */
export interface ChainRun {
  runs: LoadedMigration[];
  leftOut: { loaded: LoadedMigration; file: string; why: string }[];
}

/** The files `why` gives no reason to leave out. A left-out file must be one no later file
 *  builds on (the chain's last, for instance): the others still run in order. */
function splitChain(
  files: LoadedMigration[],
  why: (loaded: LoadedMigration) => string | undefined,
): ChainRun {
  const run: ChainRun = { runs: [], leftOut: [] };
  for (const loaded of files) {
    const reason = why(loaded);
    if (reason) run.leftOut.push({ loaded, file: basename(loaded.file), why: reason });
    else run.runs.push(loaded);
  }
  return run;
}

/** The own chain, without the files that need a newer server than `serverMajor`. */
export async function ownChain(serverMajor: number): Promise<ChainRun> {
  return splitChain(await loadChain(OWN_CHAIN_DIR), ({ migration }) => {
    const needs = OWN_CHAIN_MINIMUM_MAJOR[migration.name];
    return needs !== undefined && serverMajor < needs
      ? `needs PostgreSQL ${needs}, the server is ${serverMajor}`
      : undefined;
  });
}

/** pgroll examples tidal refuses before anything runs, by file name, with the reason. */
const PGROLL_REFUSED: Record<string, string> = {
  '35_alter_column_multiple.yaml':
    'its down names a column that does not exist (event_name): tidal refuses it',
};

/** The pgroll example chain in `dir`, without the examples tidal refuses. */
export async function pgrollChain(dir: string): Promise<ChainRun> {
  return splitChain(await loadChain(dir), (loaded) => PGROLL_REFUSED[basename(loaded.file)]);
}
