import type { ProcessUsage, Transact } from './measure.js'

/** Cumulative counters of a system under test, summed over every node and process. */
export interface SystemCounters {
  /** Protocol messages sent (for a naive baseline over function calls: calls plus replies). */
  readonly messages: number
  /** Bytes put on the wire, when the system can count them; `undefined` otherwise. */
  readonly bytes: number | undefined
  /** Appends that had to be durable before a message could leave. */
  readonly forcedWrites: number
  /** fdatasync calls actually issued; `undefined` for a system without a file log. */
  readonly fsyncs: number | undefined
}

/** Usage measured in another process of the system (the participants' host). */
export interface RemoteUsage {
  start(): Promise<void>
  stop(): Promise<ProcessUsage>
}

/**
 * One system under test, set up for one cell: the library in some configuration, or a baseline.
 * Built by a factory; the cell runner drives {@link transact} in a closed loop.
 */
export interface System {
  /** Runs transaction number `index` to completion. */
  readonly transact: Transact
  /** A snapshot of the cumulative counters; taken between runs, when nothing is in flight. */
  counters(): Promise<SystemCounters>
  /** Present when part of the system runs in another process, whose CPU and event loop count too. */
  readonly remote?: RemoteUsage
  /** Stops every node and releases every resource (sockets, files). */
  close(): Promise<void>
}
