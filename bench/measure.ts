import { createHistogram, monitorEventLoopDelay, type RecordableHistogram } from 'node:perf_hooks'

/** When one transaction reached its decision and its completion, in `performance.now()` milliseconds. */
export interface Timing {
  readonly decidedAt: number
  readonly completedAt: number
  /**
   * How the transaction ended, when the system says: `commit`, or `abort` and the reason twopc's
   * `commit()` gave (e.g. `abort: prepare-timeout`). Absent for the naive baselines.
   */
  readonly outcome?: string
}

/** Runs transaction number `index`; resolves at completion with its {@link Timing}. */
export type Transact = (index: number) => Promise<Timing>

/** Percentiles of a latency distribution, in milliseconds. */
export interface Percentiles {
  readonly p50: number
  readonly p99: number
}

/** What a {@link closedLoop} measured. */
export interface LoopResult {
  /** Transactions started and completed. */
  readonly transactions: number
  /** From the first start until the last completion. */
  readonly elapsedMs: number
  /** Latency from start to decision. */
  readonly decision: Percentiles
  /** Latency from start to completion (every participant that voted yes acked). */
  readonly completion: Percentiles
  /** Transactions by {@link Timing.outcome}, for those that had one (none for the naive baselines). */
  readonly outcomes: Readonly<Record<string, number>>
}

/** Latencies in microseconds (the histogram records integers). */
function recorder(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 })
}

function percentiles(histogram: RecordableHistogram): Percentiles {
  if (histogram.count === 0) return { p50: Number.NaN, p99: Number.NaN }
  return { p50: histogram.percentile(50) / 1000, p99: histogram.percentile(99) / 1000 }
}

/** How long a {@link closedLoop} runs. */
export interface LoopOptions {
  /** Transactions in flight at once. */
  readonly concurrency: number
  /** Number of the first transaction. */
  readonly firstIndex: number
  /** Start no transaction after this long. */
  readonly durationMs: number
  /** Start no more than this many transactions. @default unlimited */
  readonly transactions?: number
}

/**
 * A closed loop: `concurrency` clients each start a transaction, wait for its completion and start
 * the next, until `durationMs` has passed (or `transactions` were started); then every transaction
 * in flight is drained. So at most `concurrency` transactions are in flight, and every started one
 * is counted. Transaction numbers run from `firstIndex`, so a warm-up and the measured run never
 * reuse one.
 */
export async function closedLoop(transact: Transact, options: LoopOptions): Promise<LoopResult> {
  const decision = recorder()
  const completion = recorder()
  const outcomes = new Map<string, number>()
  let next = options.firstIndex
  const last = options.firstIndex + (options.transactions ?? Number.POSITIVE_INFINITY)
  const startedAt = performance.now()
  const deadline = startedAt + options.durationMs
  const client = async () => {
    while (performance.now() < deadline && next < last) {
      const index = next++
      const start = performance.now()
      const timing = await transact(index)
      decision.record(Math.max(1, Math.round((timing.decidedAt - start) * 1000)))
      completion.record(Math.max(1, Math.round((timing.completedAt - start) * 1000)))
      if (timing.outcome !== undefined) outcomes.set(timing.outcome, (outcomes.get(timing.outcome) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, client))
  return {
    transactions: next - options.firstIndex,
    elapsedMs: performance.now() - startedAt,
    decision: percentiles(decision),
    completion: percentiles(completion),
    outcomes: Object.fromEntries(outcomes),
  }
}

/** CPU time and event-loop delay of this process over a measured interval. */
export interface ProcessUsage {
  /** User plus system CPU time, in microseconds. */
  readonly cpuUs: number
  /** Event-loop delay percentiles, in milliseconds (10 ms sampling resolution). */
  readonly eventLoopDelay: Percentiles & { readonly max: number }
}

/** Measures {@link ProcessUsage} from construction until {@link stop}. */
export class UsageMeter {
  private readonly cpu = process.cpuUsage()
  private readonly delay = monitorEventLoopDelay({ resolution: 10 })

  constructor() {
    this.delay.enable()
  }

  /** Stops measuring and returns the usage since construction. */
  stop(): ProcessUsage {
    this.delay.disable()
    const { user, system } = process.cpuUsage(this.cpu)
    const toMs = (ns: number) => ns / 1e6
    return {
      cpuUs: user + system,
      eventLoopDelay: {
        p50: toMs(this.delay.percentile(50)),
        p99: toMs(this.delay.percentile(99)),
        max: toMs(this.delay.max),
      },
    }
  }
}

/** Runs a full garbage collection (the benchmark runs with `--expose-gc`) and returns the heap in use, in bytes. */
export function settledHeapBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('Run the benchmark with node --expose-gc')
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Resolves once `condition()` holds, checking every 10 ms. */
export async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10))
}
