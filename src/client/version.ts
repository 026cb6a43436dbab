/**
 * The version a release is built for, as the application names it: a migration name, a version
 * schema, or the application schema itself (the base version, before the first migration).
 */
import { InputError } from '../errors.js';
import { MAX_IDENTIFIER_BYTES } from '../pg/quote.js';
import { type VersionSelection, versionSchemaName } from '../pg/version-session.js';

/** What a release says about its version. */
export interface VersionInput {
  /**
   * The migration name (`03_add_x`, as its file is named, or its `version_schema`), the version
   * schema (`public_03_add_x`), or the application schema's name for the base version.
   */
  version: string;
  /** The application schema; `public` unless given. */
  schema?: string;
  /** tidal's state schema, read by the live check; `tidal` unless given. */
  stateSchema?: string;
  /** The application's own name, kept in the session's tag after the version. */
  application?: string;
}

/** A version, resolved: what selects it and where its state is. */
export interface ClientVersion extends VersionSelection {
  /** The version as the release gave it. */
  name: string;
  stateSchema: string;
  /** It is the base version: the application schema itself. */
  base: boolean;
}

export const DEFAULT_SCHEMA = 'public';
export const DEFAULT_STATE_SCHEMA = 'tidal';

/**
 * Resolves a version without the database: the application schema's name is the base version; a
 * name that starts with `<schema>_` is taken as a version schema; any other name is a migration
 * name (or `version_schema`), whose version schema is `<schema>_<name>`. The live check at
 * connect tells a release whose name resolved to a schema tidal never made.
 */
export function tidalVersion(input: VersionInput | string): ClientVersion {
  const given = typeof input === 'string' ? { version: input } : input;
  const schema = given.schema ?? DEFAULT_SCHEMA;
  const stateSchema = given.stateSchema ?? DEFAULT_STATE_SCHEMA;
  const name = given.version.trim();
  if (name === '') throw new InputError('tidal version: the version is empty');
  for (const [what, value] of [
    ['version', name],
    ['schema', schema],
    ['stateSchema', stateSchema],
  ] as const) {
    if (value === '' || value.includes('\0'))
      throw new InputError(`tidal version: ${what} ${JSON.stringify(value)} is not a schema name`);
  }
  const base = name === schema;
  const versionSchema = base
    ? schema
    : name.startsWith(`${schema}_`)
      ? name
      : versionSchemaName(schema, name);
  if (Buffer.byteLength(versionSchema) > MAX_IDENTIFIER_BYTES) {
    throw new InputError(
      `tidal version: version schema "${versionSchema}" is longer than ${MAX_IDENTIFIER_BYTES} bytes, so tidal never made it; check the version`,
    );
  }
  return {
    name,
    schema,
    versionSchema,
    stateSchema,
    base,
    ...(given.application ? { application: given.application } : {}),
  };
}
