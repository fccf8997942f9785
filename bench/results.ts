import type { LogKind } from './library/logs.js'
import type { Percentiles } from './measure.js'
import type { Mix } from './workloads.js'

/**
 * Who runs the transactions of a cell: twopc, or one of the naive baselines — in memory passing
 * messages by reference (`naive-memory`) or copying each once (`naive-memory-clone`), durable on
 * group-commit files (`naive-durable`), or over TCP to the participants' host (`naive-tcp`).
 */
export type SystemKind = 'library' | 'naive-memory' | 'naive-memory-clone' | 'naive-durable' | 'naive-tcp'

/** How messages travel: in process (MemoryNetwork, or direct calls for a naive baseline), or over loopback to a second process. */
export type TransportKind = 'memory' | 'tcp' | 'http'

/** One cell of the matrix. */
export interface CellSpec {
  readonly system: SystemKind
  /** Participants per transaction. */
  readonly n: number
  /** Transactions in flight. */
  readonly c: number
  readonly mix: Mix
  readonly transport: TransportKind
  readonly log: LogKind
}

/** What one run of a cell measured. Per-transaction figures are totals over every node and process ÷ transactions. */
export interface CellResult {
  readonly spec: CellSpec
  readonly transactions: number
  readonly elapsedMs: number
  readonly tps: number
  readonly decisionMs: Percentiles
  readonly completionMs: Percentiles
  /**
   * Measured transactions by outcome (`commit`, `abort: vote-no`, `abort: prepare-timeout`, …), as
   * twopc's `commit()` resolved; empty for the naive baselines, which do not say.
   */
  readonly outcomes: Readonly<Record<string, number>>
  readonly messagesPerTx: number
  /** Bytes per transaction: on the wire for the naive TCP baseline; message JSON for twopc; `null` without messages. */
  readonly bytesPerTx: number | null
  readonly forcedWritesPerTx: number
  /** fdatasyncs per transaction; `null` without a file log. */
  readonly fsyncsPerTx: number | null
  /** CPU time (user + system) of every process of the system, per transaction, in microseconds. */
  readonly cpuUsPerTx: number
  /** Event-loop delay p99 and max of the most delayed process, in milliseconds. */
  readonly eventLoopDelayMs: { readonly p99: number; readonly max: number }
}

/** One overload cell: twopc over TCP on loopback, every node in this process, `c` transactions in flight. */
export interface OverloadSpec {
  /** Participants per transaction. */
  readonly n: number
  /** Transactions in flight (the closed loop's clients). */
  readonly c: number
}

/** What one overload cell measured, over its measured window (warm-up excluded). */
export interface OverloadResult {
  readonly spec: OverloadSpec
  /** Transactions started and finished in the window, whatever their outcome. */
  readonly transactions: number
  /** Of those, the committed ones. */
  readonly committed: number
  readonly elapsedMs: number
  /** Committed transactions per second. */
  readonly committedTps: number
  readonly decisionMs: Percentiles
  readonly completionMs: Percentiles
  /** Transactions by outcome, as `commit()` resolved (`commit`, `abort: prepare-timeout`, …). */
  readonly outcomes: Readonly<Record<string, number>>
  /** Transactions the library aborted because a vote missed the coordinator's `prepareTimeoutMs`. */
  readonly prepareTimeouts: number
  /** Messages every node sent (every type, retransmissions included) ÷ committed transactions. */
  readonly messagesPerCommittedTx: number
  /** Messages every node sent in the window, by type. */
  readonly messagesByType: Readonly<Record<string, number>>
  /**
   * Outbound messages the TCP transports dropped (e.g. `queue-full`) and inbound frames they
   * refused in the window, by reason (reasons with none left out).
   */
  readonly transport: {
    readonly dropped: Readonly<Record<string, number>>
    readonly rejected: Readonly<Record<string, number>>
  }
  /** CPU time of this process (every node and the driver) ÷ committed transactions, in microseconds. */
  readonly cpuUsPerCommittedTx: number
  readonly eventLoopDelayMs: { readonly p99: number; readonly max: number }
}

/** A raw baseline: an operation rate and its latency. */
export interface MicroResult {
  readonly name: string
  /** What one operation is. */
  readonly operation: string
  readonly opsPerSecond: number
  readonly latencyMs: Percentiles
  /** Anything else worth a number (e.g. records per fdatasync). */
  readonly detail: Readonly<Record<string, number>>
}

/** A timed recovery scenario. */
export interface RecoveryResult {
  readonly name: string
  /** Records loaded or transactions resolved. */
  readonly items: number
  readonly ms: number
  readonly perSecond: number
}

/** Heap measurements. */
export interface MemoryResult {
  /** Heap per transaction in flight, in bytes: twopc and the naive in-memory 2PC. */
  readonly bytesPerInFlightTx: { readonly library: number; readonly naive: number; readonly inFlight: number }
  /** tx/s in each round with a small and a large memory of finished transactions, both full (see `MemoryPlan.steadyState`). */
  readonly steadyState: {
    readonly small: { readonly remembered: number; readonly tps: readonly number[] }
    readonly large: { readonly remembered: number; readonly tps: readonly number[] }
  }
  /** Heap before and after many transactions, after a warm-up that fills the bounded memories. */
  readonly drain: {
    readonly transactions: number
    readonly warmupTransactions: number
    readonly freshBytes: number
    readonly startBytes: number
    readonly endBytes: number
  }
}

/** One target: the measured ratio (or value) against its bound. */
export interface TargetResult {
  readonly id: string
  readonly description: string
  /** The library's figure and the baseline's (`null` for an absolute target), from the median round. */
  readonly library: number
  readonly baseline: number | null
  /** library ÷ baseline, the median over rounds; the value itself for an absolute target. */
  readonly ratio: number
  /** Every round's ratio. */
  readonly rounds: readonly number[]
  /** `==` is an exact count (compared to within 1e-9, as figures are totals ÷ transactions). */
  readonly bound: { readonly op: '>=' | '<=' | '=='; readonly value: number }
  readonly pass: boolean
}
