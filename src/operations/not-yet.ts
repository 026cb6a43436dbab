import { InputError } from '../errors.js';
import type { OperationModule } from './types.js';

/** Operation kinds the format defines that this version of tidal does not run yet: the file
 *  validates, and start refuses with a clear message before anything runs. */
export function notYetSupported(kind: string): OperationModule<unknown> {
  return {
    async plan(_options, ctx) {
      throw new InputError(
        `${ctx.where}: operation "${kind}" is not supported by this version of tidal yet`,
      );
    },
  };
}
