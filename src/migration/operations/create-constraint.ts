/** create_constraint: a constraint over existing columns, `up`/`down` rewriting their values. */
import { z } from 'zod';
import {
  columnExpressions,
  constraintFieldRules,
  identifier,
  indexParametersSchema,
  strictObject,
  tableForeignKeyReferenceSchema,
} from '../fields.js';
import {
  type Checks,
  checkColumnExpressions,
  checkIndexParameters,
  checkReferences,
  type OperationFormat,
  reportDuplicates,
} from '../offline-checks.js';
import type { Path } from '../problems.js';

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

export function checkCreateConstraint(o: CreateConstraint, at: Path, c: Checks): void {
  c.expression([...at, 'check'], o.check);
  reportDuplicates(o.columns ?? [], [...at, 'columns'], undefined, 'column', c);
  checkColumnExpressions(o.up, o.columns ?? [], [...at, 'up'], c);
  checkColumnExpressions(o.down, o.columns ?? [], [...at, 'down'], c);
  checkIndexParameters(o.index_parameters, [...at, 'index_parameters'], undefined, c);
  checkReferences(o.references, o.columns, [...at, 'references'], c);
}

/** create_constraint in the file format. */
export const createConstraintFormat: OperationFormat<typeof createConstraintSchema> = {
  schema: createConstraintSchema,
  check: checkCreateConstraint,
};
