import { describe, expect, it } from 'vitest';
import { BatchSizer } from '../../src/backfill/batch-size.js';

describe('BatchSizer', () => {
  it('grows toward batches of the target duration, at most doubling at once', () => {
    const sizer = new BatchSizer(1000, 100);
    sizer.record(1000, 10); // ten times too fast: would want 10 000
    expect(sizer.next).toBe(1500); // halfway to the bounded 2000
    for (let i = 0; i < 20; i++) sizer.record(sizer.next, sizer.next / 100); // 100 rows per ms
    expect(sizer.next).toBeGreaterThan(9000);
    expect(sizer.next).toBeLessThanOrEqual(10_000);
  });

  it('shrinks when batches run long, at most halving at once, and stays within bounds', () => {
    const sizer = new BatchSizer(4000, 100, 100, 50_000);
    sizer.record(4000, 4000); // forty times too slow
    expect(sizer.next).toBe(3000); // halfway to the bounded 2000
    for (let i = 0; i < 50; i++) sizer.record(sizer.next, 10_000);
    expect(sizer.next).toBe(100);
  });

  it('ignores batches that did not fill, which end the table', () => {
    const sizer = new BatchSizer(1000);
    sizer.record(10, 1);
    expect(sizer.next).toBe(1000);
  });

  it('caps a batch to a rows/s ceiling', () => {
    const sizer = new BatchSizer(1000);
    expect(sizer.cap(250)).toBe(250);
    expect(sizer.cap(5000)).toBe(1000);
    expect(sizer.cap(0.5)).toBe(1);
  });
});
