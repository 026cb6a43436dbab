/**
 * `tidal/client`: what an application release needs to work through the version it is built
 * for, with node-postgres, Knex, Drizzle, Kysely or Prisma's pg adapter. Every setup selects
 * the version (search_path), names it (tidal.version), tags the session (application_name) and
 * checks at connect that the version is live. Nothing here loads more than node-postgres' types.
 */
export { InputError, OperationError, TidalError } from '../errors.js';
export type { VersionSelection } from '../pg/version-session.js';
export {
  type DrizzleSetup,
  drizzleSetup,
  type KnexAfterCreate,
  type KnexConnection,
  type KnexPoolOptions,
  type KnexVersionConfig,
  type KyselyDialectConfig,
  knexConfig,
  kyselyDialectConfig,
  type PoolConstructor,
  type PrismaPgSetup,
  prismaPgSetup,
} from './libraries.js';
export {
  assertVersionLive,
  type Liveness,
  type NotLiveReason,
  VersionNotLiveError,
  type VersionRecord,
  versionLiveness,
} from './live.js';
export {
  pgClientConfig,
  pgPoolConfig,
  poolSelects,
  type SessionSettings,
  sessionSettings,
  versionUrl,
} from './node-postgres.js';
export { newestMigration, releaseVersion, VERSION_VARIABLE } from './pin.js';
export {
  type ClientVersion,
  DEFAULT_SCHEMA,
  DEFAULT_STATE_SCHEMA,
  tidalVersion,
  type VersionInput,
} from './version.js';
