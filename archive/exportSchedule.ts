/**
 * `chainbook export --every`: one export per interval until stopped (or
 * after `runs`). An integrity failure stops the schedule: a chain or an
 * archive that failed a check must be looked at, not exported past. Any other
 * error is reported and the next run tries again; the schedule then succeeds
 * only if a later run does (an export is incremental: a run that succeeds
 * leaves the archive current), so `--runs 1` under cron fails as the run did.
 */
export interface ExportScheduleOptions<Report extends { ok: boolean }> {
  intervalMs: number;
  /** Stop after this many runs; Infinity for as long as the process lives. */
  runs: number;
  runOnce(): Promise<Report>;
  onReport(report: Report): void;
  /** Errors that will not go away by trying again (configuration): they end the schedule. */
  isFatal(error: unknown): boolean;
  onError(error: unknown): void;
  /** Aborted on SIGTERM or SIGINT: the current run finishes, no other starts. */
  signal: AbortSignal;
  nowMs: () => number;
}

/** Sleeps `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', wake);
      resolve();
    }, ms);
    signal.addEventListener('abort', wake, { once: true });
  });
}

/**
 * True when the last run that finished was ok; false at the first integrity
 * failure, and when the last run failed with an error (or no run finished).
 */
export async function runExportSchedule<Report extends { ok: boolean }>(
  options: ExportScheduleOptions<Report>,
): Promise<boolean> {
  let lastOk = false;
  for (let run = 1; run <= options.runs && !options.signal.aborted; run++) {
    const started = options.nowMs();
    try {
      const report = await options.runOnce();
      options.onReport(report);
      if (!report.ok) return false;
      lastOk = true;
    } catch (error) {
      if (options.isFatal(error)) throw error;
      options.onError(error);
      lastOk = false;
    }
    if (run < options.runs) await pause(Math.max(0, options.intervalMs - (options.nowMs() - started)), options.signal);
  }
  return lastOk;
}
