import {
  type Coordinator,
  type NodeStats,
  Participant,
  type ParticipantOptions,
  type Resource,
  type Transport,
} from '../../src/index.js'
import { votingResource } from '../workloads.js'
import { type BenchLog, type LogKind, openLog, totalSyncs } from './logs.js'

/**
 * Timings of every benchmark node: long enough that no transaction aborts by timeout or is
 * retransmitted under the heaviest cell, so that the counters measure the protocol, not the
 * machine's overload. (Retransmissions, if any, still show in the messages per transaction.)
 */
export const BENCH_TIMINGS = {
  prepareTimeoutMs: 60_000,
  retransmitIntervalMs: 5_000,
  retransmitIntervalMsMax: 30_000,
} as const

/** Participant-only timing: cooperative termination must wait longer than the coordinator's prepare timeout. */
const COOPERATIVE_TERMINATION_AFTER_MS = 120_000

/** The timing options a benchmark participant may be given. */
export type ParticipantTimings = Pick<
  ParticipantOptions,
  | 'resourcePrepareTimeoutMs'
  | 'retransmitIntervalMs'
  | 'retransmitIntervalMsMax'
  | 'cooperativeTerminationAfterMs'
>

/** {@link BENCH_TIMINGS} for a participant, with cooperative termination after the coordinator's prepare timeout. */
const BENCH_PARTICIPANT_TIMINGS: ParticipantTimings = {
  resourcePrepareTimeoutMs: BENCH_TIMINGS.prepareTimeoutMs,
  retransmitIntervalMs: BENCH_TIMINGS.retransmitIntervalMs,
  retransmitIntervalMsMax: BENCH_TIMINGS.retransmitIntervalMsMax,
  cooperativeTerminationAfterMs: COOPERATIVE_TERMINATION_AFTER_MS,
}

/** Counters of a set of nodes, summed. */
export interface NodeTotals {
  readonly messages: number
  readonly forcedWrites: number
  /** fdatasyncs of their file logs; `undefined` when no node has one. */
  readonly fsyncs: number | undefined
}

/** Sums the counters of `nodes` and the syncs of `logs`. */
export function nodeTotals(
  nodes: readonly (Coordinator | Participant)[],
  logs: readonly BenchLog[],
): NodeTotals {
  let messages = 0
  let forcedWrites = 0
  for (const node of nodes) {
    const stats: NodeStats = node.stats()
    for (const sent of Object.values(stats.messagesSent)) messages += sent
    forcedWrites += stats.forcedAppends
  }
  return { messages, forcedWrites, fsyncs: totalSyncs(logs) }
}

/** Participants started for one cell, in this process or in the participants' host. */
export interface ParticipantGroup {
  readonly participants: readonly Participant[]
  readonly logs: readonly BenchLog[]
  totals(): NodeTotals
  close(): Promise<void>
}

/** How {@link startParticipants} builds each participant. */
export interface ParticipantSetup {
  readonly log: LogKind
  /** Directory of the file logs. */
  readonly directory: string
  readonly transport: (id: string) => Transport
  /** @default votingResource() */
  readonly resource?: Resource
  /** @default the library's defaults */
  readonly limits?: NodeLimits
  /** @default BENCH_TIMINGS (no timeout or retransmission under any cell); `{}` for the library's defaults */
  readonly timings?: ParticipantTimings
}

/** Limits a cell may set on every node (the library's defaults otherwise). */
export interface NodeLimits {
  readonly maxInFlightTransactions?: number
  readonly rememberedTransactions?: number
}

/** Starts one participant per id, each with its own log, and waits until all have loaded their logs. */
export async function startParticipants(
  ids: readonly string[],
  setup: ParticipantSetup,
): Promise<ParticipantGroup> {
  const logs = ids.map((id) => openLog(setup.log, setup.directory, id))
  const participants = ids.map(
    (id, i) =>
      new Participant({
        id,
        transport: setup.transport(id),
        log: (logs[i] as BenchLog).log,
        resource: setup.resource ?? votingResource(),
        ...(setup.timings ?? BENCH_PARTICIPANT_TIMINGS),
        ...setup.limits,
      }),
  )
  await Promise.all(participants.map((participant) => participant.start()))
  return {
    participants,
    logs,
    totals: () => nodeTotals(participants, logs),
    close: async () => {
      await Promise.all(participants.map((participant) => participant.close()))
    },
  }
}
