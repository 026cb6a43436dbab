/** A serial column's sequence goes with the column it belongs to: complete hands it to the
 *  copy before the old column is dropped. */

import { ownedSequences } from '../../catalog/read.js';
import { storedType } from '../../model/checks.js';
import { type Step, tableStep } from '../../model/step.js';
import { ident, qualifiedName } from '../../pg/quote.js';
import type { ColumnCopy } from './site.js';

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/** `ALTER SEQUENCE ... [AS <type>] OWNED BY` the copy, if the old column owns a sequence; the
 *  sequence takes the copy's integer type. */
export async function sequenceHandOver(copy: ColumnCopy): Promise<Step[]> {
  const sequence = await ownedSequence(copy);
  if (!sequence) return [];
  const type = storedType(copy.newType);
  const as = sequence.type !== type && INTEGER_TYPES.has(type) ? ` AS ${type}` : '';
  return [
    tableStep(
      copy.ref,
      'AccessExclusive',
      `ALTER SEQUENCE ${sequence.name}${as} OWNED BY ${qualifiedName(copy.ref.schema, copy.ref.name)}.${ident(copy.copy)}`,
      `hand sequence ${sequence.name} over to the new "${copy.column.name}"`,
    ),
  ];
}

/** The sequence the old column owns, if any, and its type. */
async function ownedSequence(copy: ColumnCopy): Promise<{ name: string; type: string } | null> {
  const { ctx, table } = copy;
  // Of a table earlier migrations, not run yet, create or change, what the live database says
  // does not hold: the copy keeps no sequence then (what runs is planned when its turn comes).
  if (ctx.afterRawSql || !ctx.model.isLive(table.physical)) return null;
  const sequences = await ctx.checks.answer('owned sequences', () =>
    ownedSequences(ctx.db, ctx.schema),
  );
  return sequences.get(table.physical)?.get(copy.oldName) ?? null;
}
