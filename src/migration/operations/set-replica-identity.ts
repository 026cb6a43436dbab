/** set_replica_identity: what a table logs to identify rows for logical replication. */
import { z } from 'zod';
import { identifier, identifierProblem, strictObject } from '../fields.js';
import type { Checks, OperationFormat } from '../offline-checks.js';
import type { Path } from '../problems.js';

const replicaIdentitySchema = strictObject({
  type: z.string(),
  index: z.string().optional(),
});

export const setReplicaIdentitySchema = strictObject({
  table: identifier,
  identity: replicaIdentitySchema,
});
export type SetReplicaIdentity = z.output<typeof setReplicaIdentitySchema>;

const REPLICA_IDENTITIES = ['default', 'full', 'nothing', 'index'];

export function checkSetReplicaIdentity(o: SetReplicaIdentity, at: Path, c: Checks): void {
  const { type, index } = o.identity;
  const path = [...at, 'identity'];
  if (!REPLICA_IDENTITIES.includes(type.toLowerCase())) {
    c.problem([...path, 'type'], `expected one of ${REPLICA_IDENTITIES.join(', ')}, got "${type}"`);
  } else if (type.toLowerCase() === 'index') {
    const problem = index === undefined ? 'required when type is index' : identifierProblem(index);
    if (problem) c.problem([...path, 'index'], problem);
  } else if (index) {
    c.problem([...path, 'index'], `only used when type is index, not ${type}`);
  }
}

/** set_replica_identity in the file format. */
export const setReplicaIdentityFormat: OperationFormat<typeof setReplicaIdentitySchema> = {
  schema: setReplicaIdentitySchema,
  check: checkSetReplicaIdentity,
};
