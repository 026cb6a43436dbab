import { InputError } from '../errors.js';
import type { LoadedMigration } from '../migration/load.js';
import type { Migration } from '../migration/schema.js';
import type { Step } from '../model/step.js';
import { combineMigrations } from '../planner/as-one.js';
import { type MigrationPlan, planMigration, plannedVersionSteps } from '../planner/plan.js';
import { type PlanReport, planReport } from '../planner/plan-report.js';
import { missingPrivileges } from '../planner/privileges.js';
import { previousVersionSchema, type Session } from './session.js';

/** A plan and what `tidal plan` shows of it. */
export interface PlannedMigration {
  plan: MigrationPlan;
  /** The steps start runs to make the version schema, as planning sees the tables. */
  versionSteps: Step[];
  report: PlanReport;
}

/** Plans `loaded` without running anything: the steps start, complete and rollback run, and
 *  the report of them (locks, estimates, open transactions, missing privileges). With
 *  `asOneWith`, the files before it and it as one migration (`migrate --as-one`). */
export async function planWithReport(
  session: Session,
  loaded: LoadedMigration,
  asOneWith: LoadedMigration[] = [],
): Promise<PlannedMigration> {
  const { client, settings } = session;
  const { plan, model, serverMajor } = await planFiles(
    session,
    loaded,
    asOneWith,
    await previousVersionSchema(session),
  );
  const versionSteps = plannedVersionSteps(plan, model, serverMajor);
  const report = await planReport(client, plan, versionSteps);
  report.missingPrivileges = await missingPrivileges(client, plan, settings.stateSchema);
  return { plan, versionSteps, report };
}

/**
 * Plans `loaded`, or with `asOneWith` the whole of those files and it (planner/as-one.ts), against
 * the live catalog. `migration` is what was planned: the whole's operations, in file order.
 */
export async function planFiles(
  { client, settings }: Session,
  loaded: LoadedMigration,
  asOneWith: LoadedMigration[],
  previousVersionSchema: string | null,
): Promise<Awaited<ReturnType<typeof planMigration>> & { migration: Migration }> {
  const whole = asOneWith.length > 0 ? await combineMigrations([...asOneWith, loaded]) : null;
  const migration = whole?.migration ?? loaded.migration;
  const planned = await planMigration(client, migration, {
    schema: settings.schema,
    stateSchema: settings.stateSchema,
    file: loaded.file,
    previousVersionSchema,
    ...(whole ? { sources: whole.sources } : {}),
  }).catch((error: unknown) => {
    if (!whole || !(error instanceof InputError)) throw error;
    throw new InputError(
      `${error.message}\n--as-one plans ${asOneWith[0]?.file} to ${loaded.file} as one migration; migrate them without --as-one, or change them so that one migration can hold them`,
    );
  });
  return { ...planned, migration };
}
