import { closedLoop, UsageMeter } from './measure.js'
import type { CellResult, CellSpec } from './results.js'
import type { System } from './system.js'

/** How long a cell runs. */
export interface CellTiming {
  /** Unmeasured run first, to warm the JIT, the connections and the files. */
  readonly warmupMs: number
  /** The measured run (new transactions start until then; then those in flight drain). */
  readonly durationMs: number
}

/** Lets lazy records and in-flight acknowledgements settle before counters are read. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20))
}

/** A short human name of a cell, e.g. `library tcp/file-group all-commit N=2 C=100`. */
export function cellName(spec: CellSpec): string {
  return `${spec.system} ${spec.transport}/${spec.log} ${spec.mix} N=${spec.n} C=${spec.c}`
}

/**
 * Measures one cell on a started `system`: a warm-up, then a measured closed loop with `spec.c`
 * transactions in flight. Counters are read before and after the measured run, when nothing is
 * in flight, so every per-transaction figure counts exactly the measured transactions.
 * `bytesPerTx` is used when the system cannot count its bytes (see `measureCosts`).
 */
export async function runCell(
  system: System,
  spec: CellSpec,
  timing: CellTiming,
  bytesPerTx: number | null,
): Promise<CellResult> {
  const warm = await closedLoop(system.transact, {
    concurrency: spec.c,
    firstIndex: 0,
    durationMs: timing.warmupMs,
  })
  await settle()
  const before = await system.counters()
  await system.remote?.start()
  const meter = new UsageMeter()
  const loop = await closedLoop(system.transact, {
    concurrency: spec.c,
    firstIndex: warm.transactions,
    durationMs: timing.durationMs,
  })
  const local = meter.stop()
  const remote = await system.remote?.stop()
  await settle()
  const after = await system.counters()
  const perTx = (value: number) => value / loop.transactions
  return {
    spec,
    transactions: loop.transactions,
    elapsedMs: loop.elapsedMs,
    tps: (loop.transactions * 1000) / loop.elapsedMs,
    decisionMs: loop.decision,
    completionMs: loop.completion,
    outcomes: loop.outcomes,
    messagesPerTx: perTx(after.messages - before.messages),
    bytesPerTx:
      after.bytes !== undefined && before.bytes !== undefined
        ? perTx(after.bytes - before.bytes)
        : bytesPerTx,
    forcedWritesPerTx: perTx(after.forcedWrites - before.forcedWrites),
    fsyncsPerTx:
      after.fsyncs !== undefined && before.fsyncs !== undefined ? perTx(after.fsyncs - before.fsyncs) : null,
    cpuUsPerTx: perTx(local.cpuUs + (remote?.cpuUs ?? 0)),
    eventLoopDelayMs: {
      p99: Math.max(local.eventLoopDelay.p99, remote?.eventLoopDelay.p99 ?? 0),
      max: Math.max(local.eventLoopDelay.max, remote?.eventLoopDelay.max ?? 0),
    },
  }
}
