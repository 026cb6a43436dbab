/**
 * The migration file format (pgroll's, see the JSON Schema schema.json of xataio/pgroll) as zod
 * schemas: the file as a whole and the dispatch to each operation kind, whose schema is in
 * operations/<kind>.ts and whose shared fields are in fields.ts.
 *
 * Deliberate differences from pgroll's JSON schema:
 * - alter_column `up` and `down` are optional;
 * - set_replica_identity `index` is required only when `type` is `index`;
 * - a table constraint may not carry fields of another constraint type (`references` on a check,
 *   `exclude` on a unique...), which pgroll ignores;
 * - sql refuses `down` only with `onComplete: true` (pgroll's oneOf also refuses `onComplete: false`).
 */
import { z } from 'zod';
import { strictObject } from './fields.js';
import { addColumnFormat } from './operations/add-column.js';
import { alterColumnFormat } from './operations/alter-column.js';
import { createConstraintFormat } from './operations/create-constraint.js';
import { createIndexFormat } from './operations/create-index.js';
import { createTableFormat } from './operations/create-table.js';
import { dropColumnFormat } from './operations/drop-column.js';
import { dropConstraintFormat } from './operations/drop-constraint.js';
import { dropIndexFormat } from './operations/drop-index.js';
import { dropMultiColumnConstraintFormat } from './operations/drop-multicolumn-constraint.js';
import { dropTableFormat } from './operations/drop-table.js';
import { renameColumnFormat } from './operations/rename-column.js';
import { renameConstraintFormat } from './operations/rename-constraint.js';
import { renameTableFormat } from './operations/rename-table.js';
import { setReplicaIdentityFormat } from './operations/set-replica-identity.js';
import { rawSqlFormat } from './operations/sql.js';
import { suggestion } from './suggest.js';

/** Each operation kind of the file format (its options' schema and offline check), by the key
 *  that names it in a file. A new kind is added here and in operations/index.ts. */
export const operationFormats = {
  add_column: addColumnFormat,
  alter_column: alterColumnFormat,
  create_table: createTableFormat,
  drop_column: dropColumnFormat,
  rename_column: renameColumnFormat,
  create_index: createIndexFormat,
  drop_index: dropIndexFormat,
  rename_table: renameTableFormat,
  drop_table: dropTableFormat,
  create_constraint: createConstraintFormat,
  drop_constraint: dropConstraintFormat,
  drop_multicolumn_constraint: dropMultiColumnConstraintFormat,
  rename_constraint: renameConstraintFormat,
  set_replica_identity: setReplicaIdentityFormat,
  sql: rawSqlFormat,
} as const;

/** The options schema of each operation kind, by the key that names it in a file. */
export const operationOptionSchemas = Object.fromEntries(
  Object.entries(operationFormats).map(([kind, format]) => [kind, format.schema]),
) as { [K in keyof typeof operationFormats]: (typeof operationFormats)[K]['schema'] };

type OptionsByKind = {
  [K in keyof typeof operationOptionSchemas]: z.output<(typeof operationOptionSchemas)[K]>;
};
export type OperationKind = keyof OptionsByKind;
export const operationKinds = Object.keys(operationOptionSchemas) as OperationKind[];

/** One operation: `{ add_column: {...} }` in a file becomes `{ kind: 'add_column', options }`. */
export type Operation = {
  [K in OperationKind]: { kind: K; options: OptionsByKind[K] };
}[OperationKind];

/** The options of operation kind K as a file writes them: fields with defaults optional. */
export type OperationOptionsInFile<K extends OperationKind> = z.input<
  (typeof operationOptionSchemas)[K]
>;

/** One operation as a file writes it, `{ add_column: {...} }`. */
export type OperationInFile = {
  [K in OperationKind]: { [P in K]: OperationOptionsInFile<K> };
}[OperationKind];

/** The options of the operation kind K, e.g. `OperationOptions<'add_column'>` is AddColumn. */
export type OperationOptions<K extends OperationKind> = OptionsByKind[K];

function isOperationKind(key: string): key is OperationKind {
  return Object.hasOwn(operationOptionSchemas, key);
}

/**
 * A single-key operation object. Dispatches on the key by hand rather than through z.union, so an
 * unknown or misspelt operation gets one clear message instead of an issue per union member.
 */
const operationSchema = z.unknown().transform((raw, ctx): Operation => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    ctx.addIssue({ code: 'invalid_type', expected: 'object', message: 'expected an object' });
    return z.NEVER;
  }
  const keys = Object.keys(raw);
  const [kind] = keys;
  if (kind === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `empty operation (expected one of ${operationKinds.join(', ')})`,
    });
    return z.NEVER;
  }
  if (keys.length > 1) {
    ctx.addIssue({
      code: 'custom',
      message: `an operation is an object with one key, found ${keys.length}: ${keys.join(', ')} (write each operation as its own list item)`,
    });
    return z.NEVER;
  }
  if (!isOperationKind(kind)) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown operation "${kind}"${suggestion(kind, operationKinds)}`,
    });
    return z.NEVER;
  }
  const parsed = operationOptionSchemas[kind].safeParse((raw as Record<string, unknown>)[kind]);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      ctx.addIssue({ ...issue, path: [kind, ...issue.path] });
    return z.NEVER;
  }
  return { kind, options: parsed.data } as Operation;
});

/** A migration file as written: pgroll's top-level object. */
export const migrationFileSchema = strictObject({
  name: z.string().optional(),
  version_schema: z.string().optional(),
  operations: z.array(operationSchema),
});

/** A loaded migration, named after its file. */
export interface Migration {
  /** The file's base name without extension. */
  name: string;
  /** `version_schema` when given, else the name: the version schema is `<schema>_<versionSchema>`. */
  versionSchema: string;
  operations: Operation[];
}
