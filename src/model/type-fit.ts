/** Which type changes lose nothing: every value of one type fits another. */

const INTEGER_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3, numeric: 4 };
const FLOAT_RANK: Record<string, number> = { real: 1, 'double precision': 2 };
const STRING_TYPE = /^(text|character varying(\((\d+)\))?|character\((\d+)\))$/;

/** Whether every value of type `from` fits type `to` unchanged: the common widenings only,
 *  false whenever unsure (then the obligation is said). */
export function alwaysFits(from: string, to: string): boolean {
  if (from === to) return true;
  const [fromInt, toInt] = [INTEGER_RANK[from], INTEGER_RANK[to]];
  if (fromInt !== undefined && toInt !== undefined) return fromInt <= toInt;
  const [fromFloat, toFloat] = [FLOAT_RANK[from], FLOAT_RANK[to]];
  if (fromFloat !== undefined && toFloat !== undefined) return fromFloat <= toFloat;
  const [fromString, intoString] = [STRING_TYPE.exec(from), STRING_TYPE.exec(to)];
  if (!fromString || !intoString) return false;
  if (to === 'text' || to === 'character varying') return true;
  // Into varchar(n): only from a string type whose length limit is n or less.
  const length = fromString[3] ?? fromString[4];
  const limit = intoString[3];
  return length !== undefined && limit !== undefined && Number(length) <= Number(limit);
}
