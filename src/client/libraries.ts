/**
 * What each data library needs to work through one version, built from node-postgres settings
 * (node-postgres.ts). The libraries' own types are not imported: their shapes are written here,
 * so an application needs only the libraries it uses.
 */
import type pg from 'pg';
import { InputError } from '../errors.js';
import { assertVersionLive } from './live.js';
import { pgClientConfig, pgPoolConfig, poolSelects } from './node-postgres.js';
import type { ClientVersion } from './version.js';

/** Knex's `pool.afterCreate`: called with each new raw connection. */
export type KnexAfterCreate = (
  connection: pg.Client,
  done: (error: Error | null, connection: pg.Client) => void,
) => void;

/** Knex pool settings (tarn's); `afterCreate` runs after tidal's check. */
export interface KnexPoolOptions {
  min?: number;
  max?: number;
  afterCreate?: KnexAfterCreate;
  [option: string]: unknown;
}

/** Knex's pg connection settings: node-postgres' ClientConfig, less `types` (knex types it
 *  its own way). */
export type KnexConnection = Omit<pg.ClientConfig, 'types'>;

/** A Knex config for `knex(config)`. */
export interface KnexVersionConfig {
  client: 'pg';
  connection: KnexConnection;
  /** The version schema, then the application schema: knex sets it on each new connection. */
  searchPath: string[];
  pool: KnexPoolOptions & { afterCreate: KnexAfterCreate };
}

/**
 * A Knex config for `version`: the connection selects and tags it, and `pool.afterCreate`
 * checks that it is live, ending the connection and failing the query when it is not.
 */
export function knexConfig(
  version: ClientVersion,
  options: { connection?: KnexConnection | string; pool?: KnexPoolOptions } = {},
): KnexVersionConfig {
  const connection =
    typeof options.connection === 'string'
      ? { connectionString: options.connection }
      : (options.connection ?? {});
  const own = options.pool?.afterCreate;
  const afterCreate: KnexAfterCreate = (raw, done) => {
    assertVersionLive(raw, version).then(
      () => (own ? own(raw, done) : done(null, raw)),
      // Knex leaves a connection its hook refused open: end it here.
      (error: Error) =>
        raw.end().then(
          () => done(error, raw),
          () => done(error, raw),
        ),
    );
  };
  return {
    client: 'pg',
    connection: pgClientConfig(version, connection),
    searchPath: searchPath(version),
    pool: { ...options.pool, afterCreate },
  };
}

/** Drizzle over node-postgres: `drizzle(new Pool(setup.poolConfig))`; with `pgSchema`, name the
 *  version's tables `pgSchema(setup.versionSchema).table(...)`. */
export interface DrizzleSetup {
  /** Checks each new connection (see pgPoolConfig). */
  poolConfig: pg.PoolConfig;
  /** The version schema, for `pgSchema(...)`. */
  versionSchema: string;
}

export function drizzleSetup(version: ClientVersion, base: pg.PoolConfig = {}): DrizzleSetup {
  return { poolConfig: pgPoolConfig(version, base), versionSchema: version.versionSchema };
}

/** The pg.Pool class (`import { Pool } from 'pg'`), for a setup that makes its own pool. */
export type PoolConstructor = new (config: pg.PoolConfig) => pg.Pool;

/** A Kysely `PostgresDialect` config: `new PostgresDialect(config)`; `withSchema` takes
 *  `config.versionSchema`. */
export interface KyselyDialectConfig {
  pool: pg.Pool;
  versionSchema: string;
}

/**
 * A Kysely dialect config for `version`, from the pg.Pool class (a pool is made from
 * pgPoolConfig(version, base)) or from a pool already made that way. The live check runs in
 * pg-pool's `onConnect`, not Kysely's `onCreateConnection`: Kysely does not release a
 * connection whose `onCreateConnection` fails, so each refused connection would hold a slot of
 * the pool until it is exhausted, where pg-pool ends it and fails the query with the message.
 */
export function kyselyDialectConfig(
  version: ClientVersion,
  pool: PoolConstructor | pg.Pool,
  base: pg.PoolConfig = {},
): KyselyDialectConfig {
  if (typeof pool === 'function')
    return { pool: new pool(pgPoolConfig(version, base)), versionSchema: version.versionSchema };
  if (!poolSelects(pool, version)) {
    throw new InputError(
      `kyselyDialectConfig: the pool given does not select version "${version.name}": make it with new Pool(pgPoolConfig(version)), or pass the Pool class`,
    );
  }
  return { pool, versionSchema: version.versionSchema };
}

/** What `new PrismaPg(poolConfig, options)` (`@prisma/adapter-pg`) takes. */
export interface PrismaPgSetup {
  /** Checks each new connection (see pgPoolConfig). */
  poolConfig: pg.PoolConfig;
  /** Prisma names every table with its schema: `schema` makes that the version schema. */
  options: { schema: string };
}

export function prismaPgSetup(version: ClientVersion, base: pg.PoolConfig = {}): PrismaPgSetup {
  return { poolConfig: pgPoolConfig(version, base), options: { schema: version.versionSchema } };
}

/** search_path as a list: the version schema, then the application schema. */
function searchPath(version: ClientVersion): string[] {
  return version.base ? [version.schema] : [version.versionSchema, version.schema];
}
