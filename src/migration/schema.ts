/**
 * The migration file format (pgroll's, see the JSON Schema schema.json of xataio/pgroll) as zod schemas.
 *
 * Deliberate differences from pgroll's JSON schema:
 * - alter_column `up` and `down` are optional;
 * - set_replica_identity `index` is required only when `type` is `index`;
 * - a table constraint may not carry fields of another constraint type (`references` on a check,
 *   `exclude` on a unique...), which pgroll ignores;
 * - sql refuses `down` only with `onComplete: true` (pgroll's oneOf also refuses `onComplete: false`).
 */
import { z } from 'zod';
import { suggestion } from './suggest.js';

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1), so they are rejected instead. */
export const MAX_IDENTIFIER_BYTES = 63;

/** PostgreSQL's limit on a table's columns (MaxHeapAttributeNumber), counted over attribute
 *  numbers: columns dropped since the table was last rewritten count too. */
export const MAX_TABLE_COLUMNS = 1600;

/** What is wrong with the name of a table, column, index or constraint, or undefined. */
export function identifierProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.includes('\0')) return 'must not contain a NUL character';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_IDENTIFIER_BYTES) {
    return `"${name}" is ${bytes} bytes long; PostgreSQL names are at most ${MAX_IDENTIFIER_BYTES} bytes`;
  }
  return undefined;
}

const identifier = z.string().superRefine((name, ctx) => {
  const problem = identifierProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A z.strictObject whose unknown-field message suggests the field that was probably meant. */
function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => `unknown field "${key}"${suggestion(key, known)}`).join('; ')
        : undefined,
  });
}

/** A value is "set" unless it is absent or the default pgroll's schema pins it to. */
function isSet(value: unknown): boolean {
  if (value === undefined || value === false || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length > 0;
  return true;
}

/** Issues for fields a constraint of `type` may not set, and for required fields it lacks. */
function constraintFieldRules<T extends Record<string, unknown>>(
  rules: Record<string, { forbidden: (keyof T & string)[]; required: (keyof T & string)[] }>,
) {
  return (value: T & { type: string }, ctx: z.RefinementCtx) => {
    const rule = rules[value.type];
    if (!rule) return;
    for (const field of rule.forbidden) {
      if (isSet(value[field])) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `not allowed for a ${value.type} constraint`,
        });
      }
    }
    for (const field of rule.required) {
      if (!isSet(value[field])) {
        const empty = Array.isArray(value[field]) ? 'must not be empty' : 'required';
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${empty} for a ${value.type} constraint`,
        });
      }
    }
  };
}

export const foreignKeyActionSchema = z.enum([
  'NO ACTION',
  'RESTRICT',
  'CASCADE',
  'SET NULL',
  'SET DEFAULT',
]);
export type ForeignKeyAction = z.output<typeof foreignKeyActionSchema>;

export const foreignKeyMatchTypeSchema = z.enum(['SIMPLE', 'FULL', 'PARTIAL']);
export type ForeignKeyMatchType = z.output<typeof foreignKeyMatchTypeSchema>;

export const checkConstraintSchema = strictObject({
  name: identifier,
  constraint: z.string(),
  no_inherit: z.boolean().default(false),
});
export type CheckConstraint = z.output<typeof checkConstraintSchema>;

export const uniqueConstraintSchema = strictObject({ name: identifier });
export type UniqueConstraint = z.output<typeof uniqueConstraintSchema>;

/** The target of a single-column foreign key (column `references`, alter_column `references`). */
export const foreignKeyReferenceSchema = strictObject({
  name: identifier,
  table: identifier,
  column: identifier,
  match_type: foreignKeyMatchTypeSchema.default('SIMPLE'),
  on_delete: foreignKeyActionSchema.default('NO ACTION'),
  on_update: foreignKeyActionSchema.default('NO ACTION'),
  deferrable: z.boolean().default(false),
  initially_deferred: z.boolean().default(false),
});
export type ForeignKeyReference = z.output<typeof foreignKeyReferenceSchema>;

/** The target of a multi-column foreign key (table constraints, create_constraint). */
export const tableForeignKeyReferenceSchema = strictObject({
  table: identifier,
  columns: z.array(identifier),
  match_type: foreignKeyMatchTypeSchema.default('SIMPLE'),
  on_delete: foreignKeyActionSchema.default('NO ACTION'),
  on_update: foreignKeyActionSchema.default('NO ACTION'),
  on_delete_set_columns: z.array(identifier).optional(),
});
export type TableForeignKeyReference = z.output<typeof tableForeignKeyReferenceSchema>;

export const identitySchema = strictObject({
  sequence_options: z.string().optional(),
  user_specified_values: z.enum(['ALWAYS', 'BY DEFAULT']).default('ALWAYS'),
});
export type Identity = z.output<typeof identitySchema>;

export const generatedSchema = strictObject({
  expression: z.string().optional(),
  identity: identitySchema.optional(),
});
export type Generated = z.output<typeof generatedSchema>;

export const columnSchema = strictObject({
  name: identifier,
  type: z.string(),
  nullable: z.boolean().default(false),
  pk: z.boolean().default(false),
  unique: z.boolean().default(false),
  default: z.string().optional(),
  check: checkConstraintSchema.optional(),
  references: foreignKeyReferenceSchema.optional(),
  comment: z.string().optional(),
  generated: generatedSchema.optional(),
});
export type Column = z.output<typeof columnSchema>;

export const indexParametersSchema = strictObject({
  tablespace: identifier.optional(),
  storage_parameters: z.string().optional(),
  include_columns: z.array(identifier).optional(),
});
export type IndexParameters = z.output<typeof indexParametersSchema>;

export const excludeSchema = strictObject({
  index_method: z.string().optional(),
  elements: z.string().optional(),
  predicate: z.string().optional(),
});
export type Exclude = z.output<typeof excludeSchema>;

export const tableConstraintTypeSchema = z.enum([
  'unique',
  'check',
  'primary_key',
  'foreign_key',
  'exclude',
]);
export type TableConstraintType = z.output<typeof tableConstraintTypeSchema>;

const tableConstraintFields = strictObject({
  name: identifier,
  type: tableConstraintTypeSchema,
  columns: z.array(identifier).optional(),
  deferrable: z.boolean().default(false),
  initially_deferred: z.boolean().default(false),
  nulls_not_distinct: z.boolean().default(false),
  no_inherit: z.boolean().default(false),
  check: z.string().optional(),
  references: tableForeignKeyReferenceSchema.optional(),
  exclude: excludeSchema.optional(),
  index_parameters: indexParametersSchema.optional(),
});

/** A constraint of create_table's `constraints`. */
export const tableConstraintSchema = tableConstraintFields.superRefine(
  constraintFieldRules<z.output<typeof tableConstraintFields>>({
    unique: { forbidden: ['check', 'no_inherit', 'references', 'exclude'], required: ['columns'] },
    check: {
      forbidden: [
        'index_parameters',
        'deferrable',
        'initially_deferred',
        'nulls_not_distinct',
        'references',
        'exclude',
      ],
      required: ['check'],
    },
    primary_key: {
      forbidden: ['check', 'no_inherit', 'nulls_not_distinct', 'references', 'exclude'],
      required: ['columns'],
    },
    foreign_key: {
      forbidden: ['check', 'index_parameters', 'no_inherit', 'nulls_not_distinct', 'exclude'],
      required: ['columns', 'references'],
    },
    exclude: {
      forbidden: ['check', 'no_inherit', 'nulls_not_distinct', 'columns', 'references'],
      required: ['exclude'],
    },
  }),
);
export type TableConstraint = z.output<typeof tableConstraintSchema>;

export const indexMethodSchema = z.enum(['btree', 'hash', 'gist', 'spgist', 'gin', 'brin']);
export type IndexMethod = z.output<typeof indexMethodSchema>;

export const indexFieldSchema = strictObject({
  column: identifier,
  collate: identifier.optional(),
  sort: z.enum(['ASC', 'DESC']).optional(),
  nulls: z.enum(['FIRST', 'LAST']).optional(),
  opclass: strictObject({
    name: identifier.optional(),
    params: z.array(z.string()).optional(),
  }).optional(),
});
export type IndexField = z.output<typeof indexFieldSchema>;

/** Column name to SQL expression, for operations that rewrite several columns. */
const columnExpressions = z.record(z.string(), z.string());

export const addColumnSchema = strictObject({
  table: identifier,
  column: columnSchema,
  up: z.string().optional(),
});
export type AddColumn = z.output<typeof addColumnSchema>;

/** What alter_column may change; at least one must be given. */
const alterColumnChanges = [
  'name',
  'type',
  'nullable',
  'default',
  'comment',
  'unique',
  'check',
  'references',
] as const;

export const alterColumnSchema = strictObject({
  table: identifier,
  column: identifier,
  /** tidal's addition: a new name for the column, as rename_column does. */
  name: identifier.optional(),
  type: z.string().optional(),
  nullable: z.boolean().optional(),
  /** null drops the default; absent leaves it alone. */
  default: z.string().nullable().optional(),
  /** null removes the comment; absent leaves it alone. */
  comment: z.string().nullable().optional(),
  unique: uniqueConstraintSchema.optional(),
  check: checkConstraintSchema.optional(),
  references: foreignKeyReferenceSchema.optional(),
  up: z.string().optional(),
  down: z.string().optional(),
}).superRefine((value, ctx) => {
  if (!alterColumnChanges.some((field) => value[field] !== undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: `nothing to change: give at least one of ${alterColumnChanges.join(', ')}`,
    });
  }
});
export type AlterColumn = z.output<typeof alterColumnSchema>;

export const createTableSchema = strictObject({
  name: identifier,
  columns: z.array(columnSchema),
  constraints: z.array(tableConstraintSchema).optional(),
  comment: z.string().optional(),
});
export type CreateTable = z.output<typeof createTableSchema>;

export const dropColumnSchema = strictObject({
  table: identifier,
  column: identifier,
  down: z.string().optional(),
});
export type DropColumn = z.output<typeof dropColumnSchema>;

export const renameColumnSchema = strictObject({
  table: identifier,
  from: identifier,
  to: identifier,
});
export type RenameColumn = z.output<typeof renameColumnSchema>;

export const createIndexSchema = strictObject({
  name: identifier,
  table: identifier,
  columns: z.array(indexFieldSchema),
  method: indexMethodSchema.default('btree'),
  unique: z.boolean().default(false),
  predicate: z.string().optional(),
  storage_parameters: z.string().optional(),
});
export type CreateIndex = z.output<typeof createIndexSchema>;

export const dropIndexSchema = strictObject({ name: identifier });
export type DropIndex = z.output<typeof dropIndexSchema>;

export const renameTableSchema = strictObject({ from: identifier, to: identifier });
export type RenameTable = z.output<typeof renameTableSchema>;

export const dropTableSchema = strictObject({ name: identifier });
export type DropTable = z.output<typeof dropTableSchema>;

const createConstraintFields = strictObject({
  table: identifier,
  name: identifier,
  type: z.enum(['unique', 'check', 'foreign_key', 'primary_key']),
  columns: z.array(identifier).optional(),
  check: z.string().optional(),
  no_inherit: z.boolean().default(false),
  references: tableForeignKeyReferenceSchema.optional(),
  index_parameters: indexParametersSchema.optional(),
  up: columnExpressions,
  down: columnExpressions,
});

export const createConstraintSchema = createConstraintFields.superRefine(
  constraintFieldRules<z.output<typeof createConstraintFields>>({
    unique: { forbidden: ['check', 'no_inherit', 'references'], required: ['columns'] },
    check: { forbidden: ['references', 'index_parameters'], required: ['check'] },
    foreign_key: {
      forbidden: ['check', 'no_inherit', 'index_parameters'],
      required: ['columns', 'references'],
    },
    primary_key: { forbidden: ['check', 'no_inherit', 'references'], required: ['columns'] },
  }),
);
export type CreateConstraint = z.output<typeof createConstraintSchema>;

export const dropConstraintSchema = strictObject({
  table: identifier,
  name: identifier,
  up: z.string(),
  down: z.string(),
});
export type DropConstraint = z.output<typeof dropConstraintSchema>;

export const dropMultiColumnConstraintSchema = strictObject({
  table: identifier,
  name: identifier,
  up: columnExpressions.optional(),
  down: columnExpressions,
});
export type DropMultiColumnConstraint = z.output<typeof dropMultiColumnConstraintSchema>;

export const renameConstraintSchema = strictObject({
  table: identifier,
  from: identifier,
  to: identifier,
});
export type RenameConstraint = z.output<typeof renameConstraintSchema>;

export const replicaIdentitySchema = strictObject({
  type: z.string(),
  index: z.string().optional(),
});
export type ReplicaIdentity = z.output<typeof replicaIdentitySchema>;

export const setReplicaIdentitySchema = strictObject({
  table: identifier,
  identity: replicaIdentitySchema,
});
export type SetReplicaIdentity = z.output<typeof setReplicaIdentitySchema>;

export const rawSqlSchema = strictObject({
  up: z.string(),
  down: z.string().optional(),
  onComplete: z.boolean().default(false),
}).superRefine((value, ctx) => {
  if (value.onComplete && value.down !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['down'],
      message: 'not allowed with onComplete: true (SQL run on complete is never rolled back)',
    });
  }
});
export type RawSql = z.output<typeof rawSqlSchema>;

/** The options schema of each operation kind, by the key that names it in a file. */
export const operationOptionSchemas = {
  add_column: addColumnSchema,
  alter_column: alterColumnSchema,
  create_table: createTableSchema,
  drop_column: dropColumnSchema,
  rename_column: renameColumnSchema,
  create_index: createIndexSchema,
  drop_index: dropIndexSchema,
  rename_table: renameTableSchema,
  drop_table: dropTableSchema,
  create_constraint: createConstraintSchema,
  drop_constraint: dropConstraintSchema,
  drop_multicolumn_constraint: dropMultiColumnConstraintSchema,
  rename_constraint: renameConstraintSchema,
  set_replica_identity: setReplicaIdentitySchema,
  sql: rawSqlSchema,
} as const;

type OptionsByKind = {
  [K in keyof typeof operationOptionSchemas]: z.output<(typeof operationOptionSchemas)[K]>;
};
export type OperationKind = keyof OptionsByKind;
export const operationKinds = Object.keys(operationOptionSchemas) as OperationKind[];

/** One operation: `{ add_column: {...} }` in a file becomes `{ kind: 'add_column', options }`. */
export type Operation = {
  [K in OperationKind]: { kind: K; options: OptionsByKind[K] };
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
export const operationSchema = z.unknown().transform((raw, ctx): Operation => {
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
export type MigrationFile = z.output<typeof migrationFileSchema>;

/** A loaded migration, named after its file. */
export interface Migration {
  /** The file's base name without extension. */
  name: string;
  /** `version_schema` when given, else the name: the version schema is `<schema>_<versionSchema>`. */
  versionSchema: string;
  operations: Operation[];
}
