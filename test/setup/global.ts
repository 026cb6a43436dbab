/** Vitest global setup: one PostgreSQL server for the whole run, handed to test files as `adminUrl`. */
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/pg/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser connection string; test files create their own databases on that server. */
    adminUrl: string;
  }
}

export default async function setup(
  project: TestProject,
): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.TIDAL_TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (external) {
    project.provide('adminUrl', external);
    return undefined;
  }
  const major = embeddedMajor(process.env.TIDAL_TEST_PG_MAJOR);
  const startedAt = Date.now();
  const server = await startEmbeddedPostgres({ major });
  console.log(
    `tidal tests: embedded PostgreSQL ${server.major} started in ${Date.now() - startedAt} ms`,
  );
  project.provide('adminUrl', server.url);
  return () => server.stop();
}

function embeddedMajor(value: string | undefined): 14 | 18 {
  if (value === undefined || value === '' || value === '18') return 18;
  if (value === '14') return 14;
  throw new Error(`TIDAL_TEST_PG_MAJOR must be 14 or 18, got ${JSON.stringify(value)}`);
}
