import type { NodeId } from '../core/types.js'
import { describeFaultMix, drawFaultMix, type FaultMix } from './fault-mix.js'
import type { Violation } from './invariants.js'
import type { MutantName } from './mutants.js'
import type { ProbeName } from './probes.js'
import { checkSeed, seedStream } from './seed-streams.js'
import { type Replay, shrinkHistory } from './shrink.js'
import { SimCluster } from './sim-cluster.js'
import { SimLinks } from './sim-network.js'
import { type ResourceBehaviour, resourceResult } from './sim-resource.js'
import { arrowTrace, formatTrace, type SimAction } from './trace.js'

/** Options of {@link simulate}. */
export interface SimulationOptions {
  /** Drives everything: the fault mix, the scheduler's choices, the cores' jitter. */
  readonly seed: number
  /** Run a broken core (tests only). */
  readonly mutant?: MutantName
  /** Overrides parts of the drawn fault mix. */
  readonly mix?: Partial<FaultMix>
  /** Steps of the faulty phase. @default 600 */
  readonly faultySteps?: number
  /** Steps the liveness phase may take to reach L1 before it is a failure. @default 5000 */
  readonly livenessSteps?: number
}

/** What one simulated history did. */
export interface SimulationResult {
  readonly seed: number
  readonly mutant: MutantName | undefined
  readonly mix: FaultMix
  /** The first invariant broken (S1–S7 in any phase, L1 at the end), if any. */
  readonly violation: Violation | undefined
  /** The actions applied, in order: replaying them on a fresh cluster reproduces the history. */
  readonly actions: readonly SimAction[]
  /** One line per action, prefixed by the simulated time. */
  readonly trace: readonly string[]
  /** Steps of the faulty phase and of the liveness phase. */
  readonly faultySteps: number
  readonly livenessSteps: number
  /** Simulated milliseconds. */
  readonly simulatedMs: number
  /** Probes that fired, with counts. */
  readonly probes: ReadonlyMap<ProbeName, number>
}

/** Derives the seed of one of the independent random streams of a history from its seed. */
function stream(seed: number, index: number): () => number {
  return seedStream(seed, 0x5bd1e995, index)
}

/** The cluster a fault mix describes. */
export function clusterFor(mix: FaultMix, seed: number, mutant?: MutantName): SimCluster {
  return new SimCluster({
    participants: mix.participants,
    timing: mix.timing,
    random: stream(seed, 3),
    compaction: mix.compaction,
    network: mix.network,
    resources: mix.resources,
    ...(mix.rememberedTransactions === undefined
      ? {}
      : { rememberedTransactions: mix.rememberedTransactions }),
    ...(mutant === undefined ? {} : { mutant }),
  })
}

/**
 * Runs one deterministic simulated history of a whole cluster of real cores (DESIGN.md §5.2):
 *
 * 1. a faulty phase: transactions begin as planned while the fault mix loses, duplicates,
 *    delays and reorders messages, cuts links (both ways or one way), clogs nodes, and crashes
 *    nodes between any two effects (each keeping its synced records and a prefix of its unsynced
 *    ones, maybe with a torn record), restarting them later;
 * 2. a liveness phase: links heal, crashed nodes restart, new messages are neither lost nor
 *    duplicated, and the cluster must reach L1 within `livenessSteps` — otherwise that is a
 *    failure ("no convergence"), not a hang.
 *
 * S1–S7 are checked at every effect of both phases. The same seed gives the same history.
 *
 * The network is a datagram network in most mixes (`mix.network`): a message may reach a node
 * after it restarted and compacted. In half the mixes messages older than `mix.maxMessageAgeMs`
 * are dropped (5 s); in the other half none is, however old.
 *
 * @example
 * ```ts
 * const result = simulate({ seed: 42 })
 * if (result.violation) console.log(formatSimulationFailure(result))
 * ```
 */
export function simulate(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run()
}

/** Runs `count` histories with seeds `firstSeed`, `firstSeed + 1`, …; stops at the first failure. */
export function simulateMany(
  firstSeed: number,
  count: number,
  options: Omit<SimulationOptions, 'seed'> = {},
): { readonly histories: number; readonly steps: number; readonly failure: SimulationResult | undefined } {
  let steps = 0
  for (let i = 0; i < count; i++) {
    const result = simulate({ ...options, seed: firstSeed + i })
    steps += result.faultySteps + result.livenessSteps
    if (result.violation !== undefined) return { histories: i + 1, steps, failure: result }
  }
  return { histories: count, steps, failure: undefined }
}

/**
 * Runs the liveness phase of {@link simulate} on a cluster driven so far by someone else (the
 * fast-check commands): links heal, crashed nodes restart, no more faults, and L1 must hold
 * within `livenessSteps`. Returns the L1 violation, if any, and the trace of this phase.
 */
export function runToTermination(
  cluster: SimCluster,
  options: { readonly seed: number; readonly livenessSteps?: number; readonly maxDelayMs?: number },
): { readonly violation: Violation | undefined; readonly trace: readonly string[] } {
  const resources: Record<NodeId, ResourceBehaviour> = {}
  for (const id of cluster.participantIds) resources[id] = cluster.node(id).behaviour
  const mix: FaultMix = {
    participants: cluster.participantIds,
    transactions: [],
    timing: cluster.timing,
    resources,
    lossRate: 0,
    duplicateRate: 0,
    maxDelayMs: options.maxDelayMs ?? 20,
    maxMessageAgeMs: Number.POSITIVE_INFINITY,
    crashRate: 0,
    crashTargets: 'any',
    restartDelayMs: 0,
    tornWrites: false,
    syncDelayMs: 5,
    partitionRate: 0,
    oneWayPartitions: false,
    clogRate: 0,
    compaction: cluster.compaction,
    network: cluster.semantics,
    rememberedTransactions: undefined,
    inputRate: 0,
  }
  return new Simulation({ seed: options.seed }, { cluster, mix }).terminate(options.livenessSteps ?? 5000)
}

/**
 * A failing history shrunk to fewer actions that still break the same invariant (safety
 * violations only), replayed on a fresh cluster: the "minimal command sequence" of a report.
 */
export function minimizeFailure(result: SimulationResult, budgetMs = 10_000): Replay | undefined {
  const violation = result.violation
  if (violation === undefined || violation.invariant === 'L1') return undefined
  return shrinkHistory(
    () => clusterFor(result.mix, result.seed, result.mutant),
    result.actions,
    violation.invariant,
    budgetMs,
  )
}

/** How to rerun one history: an environment variable for the test suite, or a function call. */
export function replayLine(seed: number, mutant?: MutantName): string {
  const call = `simulate({ seed: ${seed}${mutant === undefined ? '' : `, mutant: '${mutant}'`} })`
  const env = `TWOPC_SIM_SEED=${seed}${mutant === undefined ? '' : ` TWOPC_SIM_MUTANT=${mutant}`}`
  return `${env} npx vitest run test/testing/simulation.test.ts   # or ${call} from 'twopc/testing'`
}

/**
 * A failure report: the seed, the fault mix, the trace (its last `lastSteps` lines), the shrunk
 * history if `minimized` is given (see {@link minimizeFailure}) and the replay line.
 */
export function formatSimulationFailure(
  result: SimulationResult,
  lastSteps = 80,
  minimized?: Replay,
): string {
  const violation = result.violation
  const lines = [
    `Simulation seed ${result.seed}${result.mutant === undefined ? '' : ` (mutant ${result.mutant})`} broke ${violation?.invariant}: ${violation?.message}`,
    describeFaultMix(result.mix),
    `trace (${result.trace.length} steps, ${result.simulatedMs}ms simulated):`,
    formatTrace(result.trace, { last: lastSteps }),
  ]
  if (minimized !== undefined) {
    lines.push(`shrunk to ${minimized.trace.length} steps (still ${minimized.cluster.violation?.invariant}):`)
    lines.push(formatTrace(minimized.trace))
    lines.push(`  ${arrowTrace(minimized.trace)}`)
  }
  lines.push(`replay: ${replayLine(result.seed, result.mutant)}`)
  return lines.join('\n')
}

/** One history in progress: the cluster, the fault state, and the scheduler's bookkeeping of time. */
class Simulation {
  private readonly random: () => number
  private readonly resourceRandom: () => number
  private readonly mix: FaultMix
  private readonly cluster: SimCluster
  private readonly links = new SimLinks()
  private readonly actions: SimAction[] = []
  private readonly trace: string[] = []
  private readonly restartAt = new Map<NodeId, number>()
  private readonly syncAt = new Map<NodeId, number>()
  private readonly seenCalls = new Set<number>()
  private lastMessageId = 0
  private linksHealAt: number | undefined
  private readonly unclogAt = new Map<NodeId, number>()
  private begun = 0
  private faulty = true
  private violation: Violation | undefined

  constructor(
    private readonly options: SimulationOptions,
    existing?: { readonly cluster: SimCluster; readonly mix: FaultMix },
  ) {
    checkSeed(options.seed)
    this.mix = existing?.mix ?? { ...drawFaultMix(stream(options.seed, 1)), ...options.mix }
    this.random = stream(options.seed, 2)
    this.resourceRandom = stream(options.seed, 4)
    this.cluster = existing?.cluster ?? clusterFor(this.mix, options.seed, options.mutant)
  }

  /** The liveness phase alone, on a cluster someone else drove (the fast-check commands). */
  terminate(limit: number): { readonly violation: Violation | undefined; readonly trace: readonly string[] } {
    this.faulty = false
    this.schedule()
    this.converge(limit)
    return { violation: this.violation, trace: this.trace }
  }

  run(): SimulationResult {
    const faultyLimit = this.options.faultySteps ?? 600
    let faultySteps = 0
    while (faultySteps < faultyLimit && this.violation === undefined) {
      this.injectFaults()
      if (this.violation !== undefined || this.step() !== 'stepped') break
      faultySteps += 1
    }
    this.faulty = false
    let livenessSteps = 0
    if (this.violation === undefined) livenessSteps = this.converge(this.options.livenessSteps ?? 5000)
    return {
      seed: this.options.seed,
      mutant: this.options.mutant,
      mix: this.mix,
      violation: this.violation,
      actions: this.actions,
      trace: this.trace,
      faultySteps,
      livenessSteps,
      simulatedMs: this.cluster.now,
      probes: this.cluster.probes,
    }
  }

  /** Liveness: stop the faults, heal, restart everyone, and run until L1 holds. */
  private converge(limit: number): number {
    this.links.heal()
    this.linksHealAt = undefined
    this.unclogAt.clear()
    for (const node of this.cluster.nodes.values()) {
      if (!node.up) this.restartAt.set(node.id, this.cluster.now)
    }
    this.note('— faults stop: links heal, crashed nodes restart, no more loss or duplication —')
    // L1 is checked whenever nothing is due at the current instant (before time moves on).
    const done = () => this.allBegun() && this.cluster.terminationProblems().length === 0
    let steps = 0
    while (this.violation === undefined) {
      const outcome = steps >= limit ? 'stuck' : this.step(done)
      if (outcome === 'stopped') return steps
      if (outcome === 'stuck') {
        const problems = this.cluster.terminationProblems()
        const why = problems.length > 0 ? problems.join('; ') : 'transactions not begun'
        this.violation = {
          invariant: 'L1',
          message: `no convergence after ${steps} liveness steps: ${why}`,
        }
        this.note(`✗ L1: ${this.violation.message}`)
        return steps
      }
      steps += 1
    }
    return steps
  }

  private allBegun(): boolean {
    return this.begun === this.mix.transactions.length
  }

  /**
   * Applies one action due now, advancing time first if nothing is due: `stepped`; `stopped` if
   * `idle` said so when nothing was due; `stuck` when nothing will ever be due again.
   */
  private step(idle?: () => boolean): 'stepped' | 'stopped' | 'stuck' {
    let candidates = this.due()
    while (candidates.length === 0) {
      if (idle?.()) return 'stopped'
      const next = this.nextTime()
      if (next === undefined) return 'stuck'
      this.cluster.now = Math.max(this.cluster.now, next)
      this.releaseLinks()
      candidates = this.due()
    }
    const action = candidates[Math.floor(this.random() * candidates.length)] as SimAction
    this.apply(action)
    return 'stepped'
  }

  private apply(action: SimAction): void {
    this.record(action)
    if (action.type === 'begin') this.begun += 1
    if (action.type === 'restart') this.restartAt.delete(action.node)
    if (action.type === 'crash') this.restartAt.set(action.node, this.cluster.now + this.restartDelay())
    if (action.type === 'resource' && action.result.type === 'failed') {
      const call = this.cluster
        .node(action.node)
        .calls.find((c) => c.request.tx.txId === action.txId && c.request.type === action.operation)
      if (call !== undefined) call.dueAt = this.cluster.now + this.cluster.timing.retransmitIntervalMs
    }
    if (this.violation === undefined) this.schedule()
  }

  /** Applies an action and writes it down, without scheduling what it created. */
  private record(action: SimAction): void {
    const line = this.cluster.apply(action)
    if (line === undefined) throw new Error(`simulator chose an impossible action: ${JSON.stringify(action)}`)
    this.actions.push(action)
    this.trace.push(`[${this.cluster.now}ms] ${line}`)
    this.violation = this.cluster.violation
  }

  private note(line: string): void {
    this.trace.push(`[${this.cluster.now}ms] ${line}`)
  }

  private restartDelay(): number {
    return Math.round(this.mix.restartDelayMs * (0.2 + this.random()))
  }

  /** Gives new messages, resource calls and unsynced tails their times; draws losses and duplicates. */
  private schedule(): void {
    const now = this.cluster.now
    for (const node of this.cluster.nodes.values()) {
      if (node.disk.unsynced === 0) this.syncAt.delete(node.id)
      else if (!this.syncAt.has(node.id)) {
        this.syncAt.set(node.id, now + Math.floor(this.random() * (this.mix.syncDelayMs + 1)))
      }
      for (const call of node.calls) {
        if (this.seenCalls.has(call.id)) continue
        this.seenCalls.add(call.id)
        const hangs = call.request.type === 'prepare' && node.behaviour.prepare === 'hangs'
        call.dueAt =
          now + (hangs ? this.mix.timing.participantPrepareTimeoutMs : Math.floor(this.random() * 30))
      }
    }
    const network = this.cluster.network
    const fresh = network.inFlight.filter((entry) => entry.id > this.lastMessageId)
    for (const entry of fresh) {
      this.lastMessageId = Math.max(this.lastMessageId, entry.id)
      entry.deliverAt = now + this.delay()
    }
    if (!this.faulty) return
    for (const entry of fresh) {
      if (this.random() < this.mix.lossRate) {
        this.record({ type: 'lose', key: entry.key, id: entry.id, reason: 'loss' })
      } else if (this.random() < this.mix.duplicateRate) {
        this.record({ type: 'duplicate', key: entry.key, id: entry.id })
        const copy = network.inFlight[network.inFlight.length - 1]
        if (copy !== undefined) {
          copy.deliverAt = now + this.delay()
          this.lastMessageId = Math.max(this.lastMessageId, copy.id)
        }
      }
      if (this.violation !== undefined) return
    }
  }

  private delay(): number {
    return Math.floor(this.random() * (this.mix.maxDelayMs + 1))
  }

  /** Every action that may happen now. */
  private due(): SimAction[] {
    const { cluster } = this
    const now = cluster.now
    const actions: SimAction[] = []
    const coordinator = cluster.node(cluster.coordinatorId)
    const next = this.mix.transactions[this.begun]
    if (next !== undefined && next.beginAtMs <= now && cluster.accepts(coordinator)) {
      actions.push({ type: 'begin', txId: next.txId, participants: next.participants })
    }
    for (const [id, at] of this.restartAt) if (at <= now) actions.push({ type: 'restart', node: id })
    for (const node of cluster.nodes.values()) {
      if (!node.up) continue
      if (node.releasable !== undefined) actions.push({ type: 'effect', node: node.id })
      const syncAt = this.syncAt.get(node.id)
      if (syncAt !== undefined && syncAt <= now) actions.push({ type: 'sync', node: node.id })
      if (!cluster.accepts(node)) continue
      for (const timer of node.timers.values()) {
        if (timer.dueAt <= now)
          actions.push({ type: 'fire', node: node.id, txId: timer.txId, timer: timer.timer })
      }
      for (const call of node.calls) {
        if (call.dueAt > now) continue
        actions.push({
          type: 'resource',
          node: node.id,
          txId: call.request.tx.txId,
          operation: call.request.type,
          result: resourceResult(
            node.behaviour,
            call,
            this.resourceRandom,
            node.answers.get(call.request.tx.txId),
          ),
        })
      }
    }
    for (const entry of cluster.network.inFlight) {
      const { from, to } = entry.message
      if (entry.deliverAt > now || this.links.isHeld(from, to)) continue
      const recipient = cluster.node(to)
      const reason =
        now - entry.sentAt > this.mix.maxMessageAgeMs
          ? 'expired'
          : this.links.isBlocked(from, to)
            ? 'partition'
            : recipient.up
              ? undefined
              : 'recipient-down'
      if (reason !== undefined) actions.push({ type: 'lose', key: entry.key, id: entry.id, reason })
      else if (cluster.accepts(recipient)) actions.push({ type: 'deliver', key: entry.key, id: entry.id })
    }
    return actions
  }

  /** The earliest time something is due after now; undefined when nothing ever will be. */
  private nextTime(): number | undefined {
    const { cluster } = this
    let next = Number.POSITIVE_INFINITY
    const consider = (time: number | undefined) => {
      if (time !== undefined && time > cluster.now && time < next) next = time
    }
    const tx = this.mix.transactions[this.begun]
    if (tx !== undefined && cluster.node(cluster.coordinatorId).up)
      consider(Math.max(tx.beginAtMs, cluster.now + 1))
    for (const at of this.restartAt.values()) consider(at)
    for (const at of this.syncAt.values()) consider(at)
    for (const at of this.unclogAt.values()) consider(at)
    consider(this.linksHealAt)
    for (const node of cluster.nodes.values()) {
      for (const timer of node.timers.values()) consider(timer.dueAt)
      for (const call of node.calls) consider(call.dueAt)
    }
    for (const entry of cluster.network.inFlight) {
      if (!this.links.isHeld(entry.message.from, entry.message.to)) consider(entry.deliverAt)
    }
    return next === Number.POSITIVE_INFINITY ? undefined : next
  }

  /** Heals partitions and unclogs nodes whose time has come. */
  private releaseLinks(): void {
    const now = this.cluster.now
    if (this.linksHealAt !== undefined && this.linksHealAt <= now) {
      this.links.heal()
      this.linksHealAt = undefined
      for (const id of this.unclogAt.keys()) this.links.clog(id)
      this.note('links heal')
    }
    for (const [id, at] of this.unclogAt) {
      if (at > now) continue
      this.links.unclog(id)
      this.unclogAt.delete(id)
      this.note(`${id} unclogged`)
    }
  }

  /** One outside input, drawn: a cancel, a late timer, a forged copy or a manual resolution. */
  private outsideInput(): SimAction | undefined {
    const { cluster } = this
    const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(this.random() * items.length)]
    const txId = pick(cluster.tracker.txIds)
    if (txId === undefined) return undefined
    const node = pick([...cluster.nodes.values()].filter((candidate) => candidate.up))
    switch (Math.floor(this.random() * 4)) {
      case 0:
        return { type: 'cancel', txId }
      case 1: {
        if (node === undefined) return undefined
        const coordinator = node.id === cluster.coordinatorId
        const timer = coordinator
          ? (pick(['prepare-timeout', 'retransmit'] as const) ?? 'retransmit')
          : 'decision-request'
        return node.timers.has(`${timer} ${txId}`)
          ? undefined
          : { type: 'fire', node: node.id, txId, timer, late: true }
      }
      case 2: {
        const entry = pick(
          cluster.network.inFlight.filter((candidate) => candidate.message.type !== 'prepare'),
        )
        if (entry === undefined) return undefined
        const from = pick(cluster.outsidersOf(entry.message.txId))
        return from === undefined ? undefined : { type: 'forge', key: entry.key, from }
      }
      default: {
        const inDoubt = [...cluster.nodes.values()].filter(
          (candidate) => candidate.role === 'participant' && candidate.timers.has(`decision-request ${txId}`),
        )
        const target = pick(inDoubt)
        const decision = this.random() < 0.5 ? 'commit' : 'abort'
        return target === undefined ? undefined : { type: 'resolve', node: target.id, txId, decision }
      }
    }
  }

  /** The faulty phase's random crashes, partitions, clogs and outside inputs. */
  private injectFaults(): void {
    const { cluster, mix } = this
    const now = cluster.now
    if (this.random() < mix.inputRate) {
      const input = this.outsideInput()
      // Not every input is possible in every state (a resolution needs a transaction in doubt).
      const line = input === undefined ? undefined : cluster.apply(input)
      if (input !== undefined && line !== undefined) {
        this.actions.push(input)
        this.trace.push(`[${now}ms] ${line}`)
        this.violation = cluster.violation
        if (this.violation !== undefined) return
        this.schedule()
      }
    }
    if (this.random() < mix.crashRate) {
      const targets = [...cluster.nodes.values()].filter(
        (node) =>
          node.up &&
          (mix.crashTargets === 'any' ||
            (mix.crashTargets === 'coordinator') === (node.id === cluster.coordinatorId)),
      )
      const node = targets[Math.floor(this.random() * targets.length)]
      if (node !== undefined) {
        const unsynced = node.disk.unsynced
        const keep = Math.floor(this.random() * (unsynced + 1))
        const torn = mix.tornWrites && keep < unsynced && this.random() < 0.5
        this.apply({ type: 'crash', node: node.id, keep, torn })
        if (this.violation !== undefined) return
      }
    }
    const ids = [...cluster.nodes.keys()]
    const pick = () => ids[Math.floor(this.random() * ids.length)] as NodeId
    if (this.linksHealAt === undefined && this.random() < mix.partitionRate) {
      const isolated = pick()
      const oneWay = mix.oneWayPartitions && this.random() < 0.5
      const others = this.random() < 0.5 ? ids.filter((id) => id !== isolated) : [pick()]
      for (const other of others) if (other !== isolated) this.links.block(isolated, other, !oneWay)
      this.linksHealAt = now + 50 + Math.floor(this.random() * 1500)
      this.note(
        `Partition(${isolated} ${oneWay ? '→' : '↔'} ${others.filter((o) => o !== isolated).join(',')})`,
      )
    }
    if (this.random() < mix.clogRate) {
      const node = pick()
      if (!this.unclogAt.has(node)) {
        this.links.clog(node)
        this.unclogAt.set(node, now + 50 + Math.floor(this.random() * 1000))
        this.note(`Clog(${node})`)
      }
    }
  }
}
