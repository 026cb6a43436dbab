import type { LoadedMigration } from '../migration/load.js';
import type { Step } from '../model/step.js';
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
 *  the report of them (locks, estimates, open transactions, missing privileges). */
export async function planWithReport(
  session: Session,
  loaded: LoadedMigration,
): Promise<PlannedMigration> {
  const { client, settings } = session;
  const { plan, model, serverMajor } = await planMigration(client, loaded.migration, {
    schema: settings.schema,
    stateSchema: settings.stateSchema,
    file: loaded.file,
    previousVersionSchema: await previousVersionSchema(session),
  });
  const versionSteps = plannedVersionSteps(plan, model, serverMajor);
  const report = await planReport(client, plan, versionSteps);
  report.missingPrivileges = await missingPrivileges(client, plan, settings.stateSchema);
  return { plan, versionSteps, report };
}
