/** Indexes of a copied column, rebuilt concurrently on the copy under a temporary name after the
 *  backfill, and given their names back at complete. */

import type { IndexInfo } from '../../catalog/types.js';
import { prefixedName } from '../../model/names.js';
import { type Step, tableStep } from '../../model/step.js';
import { ident, qualifiedName } from '../../pg/quote.js';
import { buildIndexConcurrently } from '../concurrent-index.js';
import { type ColumnCopy, overCopies } from './site.js';

/** The index rebuilt concurrently on the copy under `temporary`: its definition from `USING`
 *  on, over the copies. */
export async function rebuildIndex(
  copy: ColumnCopy,
  index: IndexInfo,
  temporary: string,
): Promise<Step> {
  const method = index.definition.slice(index.definition.indexOf(' USING ') + 1);
  return buildIndexConcurrently(
    copy.ref,
    { name: temporary, unique: index.unique, definition: await overCopies(copy, method) },
    `rebuild index "${index.name}" on the new column without blocking writes`,
  );
}

/** The plain indexes of the old column (those of constraints go with their constraints). */
export async function rebuildIndexesOnCopy(copy: ColumnCopy): Promise<void> {
  const { info, oldName, ref } = copy;
  for (const index of info.indexes) {
    const constraintIndex = info.constraints.some((c) => c.name === index.name);
    if (constraintIndex || !index.columns.includes(oldName)) continue;
    if (index.columns.length > 1 && !copy.rebuildsShared) continue;
    const temporary = prefixedName('_tidal_', index.name);
    copy.steps.afterBackfill.push(await rebuildIndex(copy, index, temporary));
    // Renaming an index locks the index only, and not against reads or writes.
    copy.atComplete.push(
      tableStep(
        { schema: ref.schema, name: temporary },
        'ShareUpdateExclusive',
        `ALTER INDEX ${qualifiedName(ref.schema, temporary)} RENAME TO ${ident(index.name)}`,
        `give index "${index.name}" back its name`,
      ),
    );
  }
}
