/**
 * How many rows the next backfill batch takes, so that a batch lasts about `targetMs`: short
 * enough that the row locks it holds and the replication lag it makes stay small, long enough
 * that the per-batch round trips do not dominate. Rows vary in cost (wide rows, TOAST, an index
 * per new column, triggers), so the size follows the measured time per row instead of a guess.
 */
export class BatchSizer {
  private size: number;

  constructor(
    initial: number,
    private readonly targetMs = 100,
    private readonly min = 100,
    private readonly max = 50_000,
  ) {
    this.size = clamp(initial, min, max);
  }

  /** Rows for the next batch. */
  get next(): number {
    return this.size;
  }

  /**
   * Records a finished batch: `rows` rows visited in `ms` milliseconds. The size moves toward
   * what would have taken `targetMs`, at most doubling or halving at once, so a single slow
   * batch (a checkpoint, a lock wait) does not swing it far.
   */
  record(rows: number, ms: number): void {
    // A batch that did not fill (the end of the table) says little about the rate.
    if (rows < this.size / 2 || ms <= 0) return;
    const ideal = (rows * this.targetMs) / ms;
    const bounded = clamp(ideal, this.size / 2, this.size * 2);
    // Smoothed: halfway from the old size to the bounded new one.
    this.size = Math.round(clamp(0.5 * this.size + 0.5 * bounded, this.min, this.max));
  }

  /** Caps the size, e.g. so one batch never exceeds a second's worth of a rows/s ceiling. */
  cap(rows: number): number {
    return Math.max(1, Math.min(this.size, Math.floor(rows)));
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
