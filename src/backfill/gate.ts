import { OperationError } from '../errors.js';
import { sleep } from '../pg/backoff.js';
import type { BackfillControl } from './control.js';
import type { Throttler } from './throttle.js';

/** How often a paused backfill looks for `tidal backfill resume`. */
const PAUSE_POLL_MS = 250;
/** How long a throttled backfill waits before it reads its signals again. */
const THROTTLE_WAIT_MS = 1000;
/** Control and throttle signals are read at most this often: each read is a round trip, and
 *  250 ms keeps a pause or a lag spike obeyed well within a second. */
const SIGNAL_INTERVAL_MS = 250;

/** A throttle signal went past its critical limit: the backfill stops where its checkpoint
 *  is, and the start resumes from there when run again. */
export class CriticalLoadError extends OperationError {
  override name = 'CriticalLoadError';
}

/** What the last reading of control and signals said, and until when it holds. */
interface GateReading {
  /** Why to wait, or null to go on. */
  wait: string | null;
  /** Why to stop, when a signal is past its critical limit. */
  stop?: string;
  /** The rows per second ceiling in force; undefined for none. */
  rate: number | undefined;
  until: number;
}

/**
 * What every worker of a backfill passes before each batch: live control (`tidal backfill
 * pause`, `rate`) and the throttle signals, read once for all workers at most every 250 ms, and
 * the rows per second ceiling, shared so that all workers together stay under it. A paused or
 * throttled backfill holds every worker; the reason is reported once per reading.
 */
export class BackfillGate {
  private reading: GateReading | undefined;
  private inFlight: Promise<GateReading> | undefined;
  /** When the next batch may start under the ceiling. */
  private nextAt = 0;

  constructor(
    private readonly control: BackfillControl,
    private readonly throttler: Throttler | undefined,
    private readonly rowsPerSecond: number | undefined,
    /** The backfill waits, and why; `recorded` is what `tidal status` keeps. */
    private readonly onWait: (reason: string, recorded: string) => Promise<void>,
  ) {}

  /** Waits while the backfill is paused or throttled; then the ceiling in force, if any. */
  async admit(): Promise<number | undefined> {
    for (;;) {
      const reading = await this.current();
      if (reading.stop) throw new CriticalLoadError(reading.stop);
      if (!reading.wait) return reading.rate;
      await sleep(Math.max(10, reading.until - Date.now()));
    }
  }

  /** Waits for a batch of `rows` rows's turn under the ceiling `rate`, and takes it. */
  async pace(rows: number, rate: number | undefined): Promise<void> {
    if (!rate) return;
    const now = Date.now();
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + (rows / rate) * 1000;
    if (at > now) await sleep(at - now);
  }

  private current(): Promise<GateReading> {
    if (this.reading && Date.now() < this.reading.until) return Promise.resolve(this.reading);
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async read(): Promise<GateReading> {
    const command = await this.control.read();
    const rate = command.rowsPerSecond ?? this.rowsPerSecond;
    let reading: GateReading;
    if (command.paused) {
      reading = { wait: 'paused', rate, until: Date.now() + PAUSE_POLL_MS };
      await this.onWait('paused (tidal backfill resume continues)', 'paused');
    } else {
      const verdict = (await this.throttler?.verdict()) ?? null;
      const held = verdict && ('hold' in verdict ? verdict.hold : verdict.stop);
      reading = {
        wait: held,
        ...(verdict && 'stop' in verdict ? { stop: verdict.stop } : {}),
        rate,
        until: Date.now() + (held ? THROTTLE_WAIT_MS : SIGNAL_INTERVAL_MS),
      };
      if (verdict && 'stop' in verdict) await this.onWait(`stopped: ${held}`, `stopped: ${held}`);
      else if (held) await this.onWait(held, held);
    }
    this.reading = reading;
    return reading;
  }
}
