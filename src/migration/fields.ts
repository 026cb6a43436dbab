/**
 * The field schemas several operation kinds of the migration file format share: names, columns,
 * constraints, foreign key targets, index parameters, and the helpers the kinds build theirs with.
 */
import { z } from 'zod';
import { MAX_IDENTIFIER_BYTES } from '../pg/quote.js';
import { suggestion } from './suggest.js';

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

export const identifier = z.string().superRefine((name, ctx) => {
  const problem = identifierProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A z.strictObject whose unknown-field message suggests the field that was probably meant. */
export function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
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
export function constraintFieldRules<T extends Record<string, unknown>>(
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

const foreignKeyActionSchema = z.enum([
  'NO ACTION',
  'RESTRICT',
  'CASCADE',
  'SET NULL',
  'SET DEFAULT',
]);

const foreignKeyMatchTypeSchema = z.enum(['SIMPLE', 'FULL', 'PARTIAL']);

export const checkConstraintSchema = strictObject({
  name: identifier,
  constraint: z.string(),
  no_inherit: z.boolean().default(false),
});
export type CheckConstraint = z.output<typeof checkConstraintSchema>;

export const uniqueConstraintSchema = strictObject({ name: identifier });

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

const identitySchema = strictObject({
  sequence_options: z.string().optional(),
  user_specified_values: z.enum(['ALWAYS', 'BY DEFAULT']).default('ALWAYS'),
});

const generatedSchema = strictObject({
  expression: z.string().optional(),
  identity: identitySchema.optional(),
});

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

const excludeSchema = strictObject({
  index_method: z.string().optional(),
  elements: z.string().optional(),
  predicate: z.string().optional(),
});

const tableConstraintTypeSchema = z.enum([
  'unique',
  'check',
  'primary_key',
  'foreign_key',
  'exclude',
]);

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

/** Column name to SQL expression, for operations that rewrite several columns. */
export const columnExpressions = z.record(z.string(), z.string());
