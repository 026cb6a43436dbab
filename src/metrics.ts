import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TidalEvent } from './tidal.js';

/**
 * Prometheus metrics of a running tidal command, fed from its events: backfill rows done and
 * total, rows verified, rows/s, batch size and duration, workers, whether and why it is throttled, what each
 * throttle signal reads against its limits, lock retries, and the phase each migration is in. `serve` exposes them at `/metrics`.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly rowsDone = this.gauge(
    'tidal_backfill_rows_done',
    'Rows the backfill has visited',
    ['table'],
  );
  private readonly rowsVerified = this.gauge(
    'tidal_backfill_rows_verified',
    'Rows the verification pass after the fill has checked',
    ['table'],
  );
  private readonly rowsTotal = this.gauge(
    'tidal_backfill_rows_total',
    'Rows the backfill expects to visit (an estimate until done)',
    ['table'],
  );
  private readonly rowsPerSecond = this.gauge(
    'tidal_backfill_rows_per_second',
    'Backfill rows per second in this process',
    ['table'],
  );
  private readonly batchSize = this.gauge(
    'tidal_backfill_batch_size',
    'Rows the next backfill batch takes',
    ['table'],
  );
  private readonly workers = this.gauge(
    'tidal_backfill_workers',
    'Workers filling or verifying the table at once',
    ['table'],
  );
  private readonly throttled = this.gauge(
    'tidal_backfill_throttled',
    '1 while the backfill waits, with the reason',
    ['table', 'reason'],
  );
  private readonly signalValue = this.gauge(
    'tidal_throttle_signal_value',
    'What each throttle signal read last, in its unit (NaN when it could not be read)',
    ['signal', 'unit'],
  );
  private readonly signalLimit = this.gauge(
    'tidal_throttle_signal_limit',
    'Where a throttle signal holds the backfill (limit="max") or stops it (limit="critical")',
    ['signal', 'limit'],
  );
  private readonly phase = this.gauge('tidal_phase', '1 for the phase a migration is in', [
    'migration',
    'phase',
  ]);
  private readonly batchSeconds = new Histogram({
    name: 'tidal_backfill_batch_duration_seconds',
    help: 'How long backfill batches take',
    labelNames: ['table'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly lockRetries = new Counter({
    name: 'tidal_lock_retries_total',
    help: 'Statements retried after a lock timeout or deadlock',
    registers: [this.registry],
  });
  private readonly reasons = new Map<string, string>();

  private gauge(name: string, help: string, labelNames: string[]): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  observe(event: TidalEvent): void {
    switch (event.type) {
      case 'backfill': {
        const table = event.table;
        if (event.pass === 'verify') this.rowsVerified.set({ table }, event.rowsDone);
        else {
          this.rowsDone.set({ table }, event.rowsDone);
          this.rowsTotal.set({ table }, Math.max(event.rowsTotal, event.rowsDone));
        }
        this.rowsPerSecond.set({ table }, event.rowsPerSecond);
        this.batchSize.set({ table }, event.batchSize);
        this.workers.set({ table }, event.workers);
        if (event.lastBatchMs !== null)
          this.batchSeconds.observe({ table }, event.lastBatchMs / 1000);
        // A rate ceiling is a setting, not a hold: only waits count as throttled.
        const reason = event.throttle && !event.throttle.startsWith('rate ') ? event.throttle : '';
        const previous = this.reasons.get(table);
        if (previous !== undefined && previous !== reason)
          this.throttled.remove({ table, reason: previous });
        this.reasons.set(table, reason);
        this.throttled.set({ table, reason }, reason ? 1 : 0);
        for (const signal of event.signals) {
          this.signalValue.set(
            { signal: signal.name, unit: signal.unit },
            signal.value ?? Number.NaN,
          );
          if (signal.max !== null)
            this.signalLimit.set({ signal: signal.name, limit: 'max' }, signal.max);
          if (signal.critical !== null)
            this.signalLimit.set({ signal: signal.name, limit: 'critical' }, signal.critical);
        }
        break;
      }
      case 'phase':
        this.phase.reset();
        this.phase.set({ migration: event.migration, phase: event.phase }, 1);
        break;
      case 'lock-retry':
        this.lockRetries.inc();
        break;
    }
  }

  /** Serves `/metrics` on `port` (0: any free port); resolves with the port. */
  async serve(port: number, host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
    const server: Server = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      this.registry
        .metrics()
        .then((body) =>
          response.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        )
        .catch((error: Error) => response.writeHead(500).end(error.message));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }
}
