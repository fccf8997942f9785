import type { CellTiming } from './cell.js'
import { type LoopbackClusterSpec, startLoopbackCluster } from './library/loopback-cluster.js'
import { closedLoop, UsageMeter } from './measure.js'
import type { OverloadResult, OverloadSpec } from './results.js'

/** Which overload cells a plan runs (issue 14: TCP, N=3, C = 1,000, 5,000 and 20,000). */
export interface OverloadPlan {
  readonly n: number
  /** Transactions in flight of each cell, in report order; the first is the reference of "flat past the knee". */
  readonly cs: readonly number[]
  /** Longer than a matrix cell's: at C=20,000 one round of the closed loop takes seconds. */
  readonly timing: CellTiming
}

/** The name of an overload cell, as `--only` matches it: `library tcp-loopback/memory overload N=3 C=5000`. */
export function overloadName(spec: OverloadSpec): string {
  return `library tcp-loopback/memory overload N=${spec.n} C=${spec.c}`
}

/** The coordinator's `maxInFlightTransactions` in the overload cells: about the knee on this machine. */
export const OVERLOAD_IN_FLIGHT = 1_000

/**
 * Every option the overload cells give their nodes — the one place to change them.
 *
 * Timings are the library's defaults (`prepareTimeoutMs` 5 s, retransmission from 1 s), not the
 * matrix's long `BENCH_TIMINGS`: these cells count the prepare timeouts and retransmissions that
 * the library itself causes under load. The coordinator runs with admission control, as the
 * README's "Overload" section recommends: {@link OVERLOAD_IN_FLIGHT} transactions in flight, and
 * every other `commit()` call of the closed loop waits its turn (`maxQueuedTransactions: C`). The
 * participants keep their defaults.
 */
export function overloadNodeOptions(
  spec: OverloadSpec,
): Pick<LoopbackClusterSpec, 'coordinator' | 'participants'> {
  return {
    coordinator: { maxInFlightTransactions: OVERLOAD_IN_FLIGHT, maxQueuedTransactions: spec.c },
    participants: { timings: {}, limits: {} },
  }
}

/** Lets in-flight acknowledgements settle before counters are read. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20))
}

function difference(
  after: Readonly<Record<string, number>>,
  before: Readonly<Record<string, number>>,
): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([key, value]) => [key, value - (before[key] ?? 0)]))
}

/** Only the keys whose count is not zero. */
function nonZero(counts: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, count]) => count !== 0))
}

/**
 * Runs one overload cell: a loopback cluster (coordinator and `spec.n` participants in this
 * process, over TCP on 127.0.0.1, MemoryLogs, resources that vote yes at once), a warm-up, then a
 * measured closed loop with `spec.c` transactions in flight. Counters are read before and after
 * the measured run, when nothing is in flight.
 */
export async function runOverload(spec: OverloadSpec, timing: CellTiming): Promise<OverloadResult> {
  const cluster = await startLoopbackCluster({ n: spec.n, mix: 'all-commit', ...overloadNodeOptions(spec) })
  try {
    const warm = await closedLoop(cluster.transact, {
      concurrency: spec.c,
      firstIndex: 0,
      durationMs: timing.warmupMs,
    })
    await settle()
    const before = { messages: cluster.messagesByType(), transport: cluster.transportTotals() }
    const meter = new UsageMeter()
    const loop = await closedLoop(cluster.transact, {
      concurrency: spec.c,
      firstIndex: warm.transactions,
      durationMs: timing.durationMs,
    })
    const usage = meter.stop()
    await settle()
    const messagesByType = difference(cluster.messagesByType(), before.messages)
    const transport = cluster.transportTotals()
    const committed = loop.outcomes.commit ?? 0
    const messages = Object.values(messagesByType).reduce((sum, sent) => sum + sent, 0)
    return {
      spec,
      transactions: loop.transactions,
      committed,
      elapsedMs: loop.elapsedMs,
      committedTps: (committed * 1000) / loop.elapsedMs,
      decisionMs: loop.decision,
      completionMs: loop.completion,
      outcomes: loop.outcomes,
      prepareTimeouts: loop.outcomes['abort: prepare-timeout'] ?? 0,
      messagesPerCommittedTx: messages / committed,
      messagesByType,
      transport: {
        dropped: nonZero(difference(transport.dropped, before.transport.dropped)),
        rejected: nonZero(difference(transport.rejected, before.transport.rejected)),
      },
      cpuUsPerCommittedTx: usage.cpuUs / committed,
      eventLoopDelayMs: { p99: usage.eventLoopDelay.p99, max: usage.eventLoopDelay.max },
    }
  } finally {
    await cluster.close()
  }
}
