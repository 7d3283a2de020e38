/**
 * Where `box stats` measures a CPU % from: the readings an earlier run left, which of them a new
 * sample is measured against, which are kept, and the file they live in (a real directory).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  baseline, formatReadings, keep, lifetimePercent, loadReadings, MAX_AGE_US, MIN_WINDOW_US, parseReadings, saveReadings, windowPercent,
  type CpuReading,
} from "../../../core/runtime/stats-cpu.ts";

const scratch = mkdtempSync(join(tmpdir(), "box-stats-cpu-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const at = (ms: number, cpuMs: number, pid = 100): CpuReading => ({ pid, cpuNs: cpuMs * 1e6, atUs: 1.8e15 + ms * 1000 });

describe("which reading a sample is measured from", () => {
  test("the newest at least one window (100 ms) old", () => {
    const now = at(1000, 500);
    expect(baseline([at(0, 0), at(850, 400), at(950, 480)], now)).toEqual(at(850, 400));
    expect(windowPercent(at(850, 400), now)).toBeCloseTo(66.67, 1);
  });

  test("none when every reading is younger than a window, too old, of another run, or ahead of the sample", () => {
    const now = at(1000, 500);
    expect(baseline([at(950, 480)], now)).toBeUndefined();
    expect(baseline([at(1000 - MAX_AGE_US / 1000 - 1, 0)], now)).toBeUndefined();
    expect(baseline([at(0, 0, 99)], now)).toBeUndefined();
    // A restarted container counts from zero again; a reading above the sample is from before.
    expect(baseline([at(0, 900)], now)).toBeUndefined();
    expect(baseline([at(2000, 0)], now)).toBeUndefined();
  });

  test("runs closer together than a window measure over one to two windows, and write once per window", () => {
    // Six runs 60 ms apart: the first has nothing to measure from, the second nothing old
    // enough; from the third on the window stays between 100 and 200 ms.
    let stored: CpuReading[] = [];
    const windows: (number | undefined)[] = [];
    let writes = 0;
    for (let i = 0; i < 6; i++) {
      const now = at(i * 60, i * 30);
      const base = baseline(stored, now);
      windows.push(base ? (now.atUs - base.atUs) / 1000 : undefined);
      const kept = keep(stored, now);
      if (kept) {
        stored = kept;
        writes++;
      }
      expect(stored.length).toBeLessThanOrEqual(2);
    }
    expect(windows).toEqual([undefined, undefined, 120, 180, 120, 180]);
    expect(writes).toBe(3);
    expect(MIN_WINDOW_US).toBe(100e3);
  });

  test("runs a window or more apart each measure from the one before", () => {
    let stored: CpuReading[] = [];
    for (let i = 0; i < 4; i++) {
      const now = at(i * 1000, i * 500);
      if (i > 0) expect(baseline(stored, now)).toEqual(at((i - 1) * 1000, (i - 1) * 500));
      stored = keep(stored, now) ?? stored;
    }
  });
});

describe("the lifetime average", () => {
  test("CPU time over time since start, at most every CPU", () => {
    const startedMs = 1_800_000_000_000;
    expect(lifetimePercent(1e9, startedMs, 2, (startedMs + 2000) * 1000)).toBeCloseTo(50, 5);
    expect(lifetimePercent(5e9, startedMs, 2, (startedMs + 1000) * 1000)).toBe(200);
    expect(lifetimePercent(0, startedMs, 2, (startedMs + 1000) * 1000)).toBe(0);
  });
});

describe("the readings file", () => {
  test("round-trips, and is overwritten in place at a fixed size", () => {
    const dir = mkdtempSync(join(scratch, "c-"));
    expect(loadReadings(dir)).toEqual([]);
    saveReadings(dir, [at(200, 100), at(250, 120)]);
    expect(loadReadings(dir)).toEqual([at(200, 100), at(250, 120)]);
    const size = readFileSync(join(dir, "cpu-readings")).length;
    // Fewer readings later must not leave the tail of longer ones behind.
    saveReadings(dir, [at(300, 150)]);
    expect(loadReadings(dir)).toEqual([at(300, 150)]);
    expect(readFileSync(join(dir, "cpu-readings")).length).toBe(size);
    expect(parseReadings(formatReadings([at(5, 6, 7)]))).toEqual([at(5, 6, 7)]);
  });

  test("a damaged file is no reading at all; a missing directory is not an error", () => {
    const dir = mkdtempSync(join(scratch, "d-"));
    writeFileSync(join(dir, "cpu-readings"), "0000000100 12 34\n");
    expect(loadReadings(dir)).toEqual([]);
    saveReadings(join(dir, "gone"), [at(0, 0)]);
    expect(loadReadings(join(dir, "gone"))).toEqual([]);
  });
});
