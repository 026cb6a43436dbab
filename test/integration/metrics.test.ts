/** The Prometheus endpoint, fed by a real migration's events and scraped over HTTP. */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.js';
import { Tidal } from '../../src/tidal.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli } from '../helpers/tidal.js';

describe('metrics', () => {
  it('serves backfill progress, batch durations and the phase while a migration runs', async () => {
    const db = await createTestDatabase();
    const metrics = new Metrics();
    const endpoint = await metrics.serve(0);
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`);
      expect(response.status).toBe(200);
      return response.text();
    };
    try {
      await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
      await db.query('INSERT INTO items SELECT g, g FROM generate_series(1, 3000) g');
      const tidal = await Tidal.connect({
        connectionString: db.url,
        backfillBatchSize: 500,
        probe: { sql: 'SELECT 7', max: 50 },
        criticalLoad: { probe: 100 },
        onEvent: (event) => metrics.observe(event),
      });
      try {
        await tidal.start(
          await migrationFromYaml(
            'double',
            'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n',
          ),
        );
      } finally {
        await tidal.close();
      }
      const text = await scrape();
      expect(text).toContain('tidal_backfill_rows_done{table="items"} 3000');
      expect(text).toContain('tidal_backfill_rows_total{table="items"} 3000');
      expect(text).toContain('tidal_backfill_workers{table="items"} 1');
      expect(text).toContain('tidal_phase{migration="double",phase="active"} 1');
      expect(text).not.toMatch(/tidal_phase\{migration="double",phase="backfill"\} 1/);
      expect(text).toContain('tidal_backfill_throttled{table="items",reason=""} 0');
      expect(text).toMatch(/tidal_backfill_batch_duration_seconds_count\{table="items"\} [1-9]/);
      expect(text).toContain('tidal_lock_retries_total 0');
      // Each throttle signal's last reading, and its limits.
      expect(text).toContain('tidal_throttle_signal_value{signal="probe",unit=""} 7');
      expect(text).toContain('tidal_throttle_signal_limit{signal="probe",limit="max"} 50');
      expect(text).toContain('tidal_throttle_signal_limit{signal="probe",limit="critical"} 100');
      expect(text).toContain('tidal_throttle_signal_value{signal="replica lag",unit="ms"} 0');
      expect(text).toContain('tidal_throttle_signal_limit{signal="replica lag",limit="max"} 10000');
      expect((await fetch(`http://127.0.0.1:${endpoint.port}/other`)).status).toBe(404);
    } finally {
      await endpoint.close();
      await db.dispose();
    }
  });

  it('the CLI says where it serves them', async () => {
    const db = await createTestDatabase();
    try {
      const result = await runCli(['status', '--url', db.url, '--metrics-port', '0']);
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/^metrics at http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
    } finally {
      await db.dispose();
    }
  });
});
