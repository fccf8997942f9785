import type { NodeId } from '../core/types.js'
import type { NetworkSemantics, SimTiming } from './sim-cluster.js'
import type { PrepareBehaviour, ResourceBehaviour } from './sim-resource.js'

/** A transaction a simulation runs: when it begins and who takes part. */
export interface PlannedTransaction {
  readonly txId: string
  readonly participants: readonly NodeId[]
  /** Simulated time at which the coordinator's caller begins it. */
  readonly beginAtMs: number
}

/**
 * Everything one simulated history is made of besides the scheduler's choices: the cluster, the
 * workload and the faults, with their rates. Each history draws its own (swarm testing, Groce et
 * al. 2012): a fault is on or off, and if on, at a rate of its own, so that some histories are
 * hammered by one fault and others see a rare mix.
 */
export interface FaultMix {
  /** Participant ids. */
  readonly participants: readonly NodeId[]
  /** The workload. */
  readonly transactions: readonly PlannedTransaction[]
  /** Protocol timings. */
  readonly timing: SimTiming
  /** Each participant's resource, by id. */
  readonly resources: Readonly<Record<NodeId, ResourceBehaviour>>
  /** Probability that a message sent is lost. */
  readonly lossRate: number
  /** Probability that a message sent is duplicated. */
  readonly duplicateRate: number
  /** Each copy is delayed by 0..maxDelayMs, which reorders messages. */
  readonly maxDelayMs: number
  /** Messages older than this are dropped when they would arrive (a connection timeout would drop them). */
  readonly maxMessageAgeMs: number
  /** Probability, at each step, that a node crashes. */
  readonly crashRate: number
  /** Which nodes may crash. */
  readonly crashTargets: 'any' | 'coordinator' | 'participants'
  /** A crashed node restarts after 0.2–1.2 × this. */
  readonly restartDelayMs: number
  /** Whether a crash may leave a torn record after the surviving prefix of the unsynced tail. */
  readonly tornWrites: boolean
  /** A disk syncs its tail within 0..syncDelayMs of the first unsynced append. */
  readonly syncDelayMs: number
  /** Probability, at each step, that a partition starts (when none is active). */
  readonly partitionRate: number
  /** Whether partitions may be one-way. */
  readonly oneWayPartitions: boolean
  /** Probability, at each step, that a node is clogged for a while. */
  readonly clogRate: number
  /** Whether logs are compacted after `end` records. */
  readonly compaction: boolean
  /** What a crash does to messages in flight. */
  readonly network: NetworkSemantics
  /** The cores' `rememberedTransactions`; small values make them forget finished transactions at once. */
  readonly rememberedTransactions: number | undefined
  /**
   * Probability, at each step, of an outside input the protocol must tolerate: the caller cancels
   * a transaction, a timer fires late (after it was cleared), the network delivers a copy of a
   * message as if sent by a node outside its transaction, or an operator resolves an in-doubt
   * transaction by hand.
   */
  readonly inputRate: number
}

const BEHAVIOURS: readonly PrepareBehaviour[] = ['no', 'read-only', 'throws', 'hangs', 'random']

/** Draws a fault mix from `random` (swarm testing). */
export function drawFaultMix(random: () => number): FaultMix {
  const chance = (p: number) => random() < p
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1))
  const rate = (on: number, max: number) => (chance(on) ? random() * max : 0)
  const participants = Array.from({ length: between(2, 4) }, (_, i) => `p${i + 1}`)
  const retransmitIntervalMs = between(10, 80)
  const prepareTimeoutMs = between(100, 600)
  const timing: SimTiming = {
    retransmitIntervalMs,
    retransmitIntervalMsMax: retransmitIntervalMs * between(2, 10),
    prepareTimeoutMs,
    // Must exceed the prepare timeout (see ParticipantCoreOptions): only a silent coordinator should make peers abort.
    cooperativeTerminationAfterMs: prepareTimeoutMs + between(50, 800),
    participantPrepareTimeoutMs: between(50, 500),
  }
  const resources: Record<NodeId, ResourceBehaviour> = {}
  for (const id of participants) {
    resources[id] = {
      prepare: chance(0.6) ? 'yes' : (BEHAVIOURS[between(0, BEHAVIOURS.length - 1)] ?? 'yes'),
      applyFailures: chance(0.7) ? 0 : between(1, 3),
    }
  }
  const beginWithinMs = between(0, 2000)
  const transactions = Array.from({ length: between(1, 5) }, (_, i) => {
    const chosen = participants.filter(() => chance(0.6))
    const fallback = participants[between(0, participants.length - 1)] ?? 'p1'
    return {
      txId: `t${i + 1}`,
      participants: chosen.length > 0 ? chosen : [fallback],
      beginAtMs: between(0, beginWithinMs),
    }
  })
  const compaction = chance(0.5)
  return {
    participants,
    transactions: transactions.sort((a, b) => a.beginAtMs - b.beginAtMs),
    timing,
    resources,
    lossRate: rate(0.5, 0.4),
    duplicateRate: rate(0.5, 0.4),
    maxDelayMs: chance(0.7) ? between(1, 300) : 0,
    maxMessageAgeMs: chance(0.5) ? Number.POSITIVE_INFINITY : 5000,
    crashRate: rate(0.6, 0.03),
    crashTargets: (['any', 'any', 'coordinator', 'participants'] as const)[between(0, 3)] ?? 'any',
    restartDelayMs: between(10, 1500),
    tornWrites: chance(0.5),
    syncDelayMs: between(0, 40),
    partitionRate: rate(0.4, 0.02),
    oneWayPartitions: chance(0.5),
    clogRate: rate(0.3, 0.01),
    compaction,
    network: chance(0.2) ? 'connection' : 'datagram',
    rememberedTransactions: chance(0.3) ? between(1, 2) : undefined,
    inputRate: rate(0.3, 0.02),
  }
}

/** The fault mix in one line, for a failure report. */
export function describeFaultMix(mix: FaultMix): string {
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`
  const faults = [
    mix.lossRate > 0 ? `loss ${percent(mix.lossRate)}` : undefined,
    mix.duplicateRate > 0 ? `duplication ${percent(mix.duplicateRate)}` : undefined,
    mix.maxDelayMs > 0 ? `delay ≤${mix.maxDelayMs}ms` : undefined,
    mix.crashRate > 0
      ? `crashes ${percent(mix.crashRate)}/step of ${mix.crashTargets} (restart ~${mix.restartDelayMs}ms${mix.tornWrites ? ', torn writes' : ''})`
      : undefined,
    mix.partitionRate > 0
      ? `partitions ${percent(mix.partitionRate)}/step${mix.oneWayPartitions ? ' incl. one-way' : ''}`
      : undefined,
    mix.clogRate > 0 ? `clogging ${percent(mix.clogRate)}/step` : undefined,
    mix.compaction ? 'compaction' : undefined,
    mix.rememberedTransactions === undefined ? undefined : `remembers ${mix.rememberedTransactions}`,
    mix.inputRate > 0
      ? `cancels/late timers/forgeries/manual resolutions ${percent(mix.inputRate)}/step`
      : undefined,
  ].filter((fault) => fault !== undefined)
  const resources = Object.entries(mix.resources)
    .filter(([, behaviour]) => behaviour.prepare !== 'yes' || behaviour.applyFailures > 0)
    .map(
      ([id, behaviour]) =>
        `${id}:${behaviour.prepare}${behaviour.applyFailures > 0 ? `/fails ${behaviour.applyFailures}×` : ''}`,
    )
  const workload = mix.transactions.map((tx) => `${tx.txId}(${tx.participants.join(',')})@${tx.beginAtMs}ms`)
  return [
    `${mix.participants.length} participants, ${workload.join(' ')}`,
    `faults: ${faults.length > 0 ? faults.join(', ') : 'none'}; ${mix.network} network`,
    `resources: ${resources.length > 0 ? resources.join(' ') : 'all vote yes'}`,
    `timing: ${JSON.stringify(mix.timing)}`,
  ].join('\n')
}
