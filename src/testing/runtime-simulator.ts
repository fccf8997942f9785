import type { Message } from '../core/messages.js'
import { invalidOption } from '../core/options.js'
import type { ResourceRequest } from '../core/ready.js'
import type { NodeId, TransactionInfo, TxId, Vote } from '../core/types.js'
import { Coordinator } from '../runtime/coordinator.js'
import type { Clock, Resource, Transport } from '../runtime/interfaces.js'
import { Participant } from '../runtime/participant.js'
import { seededRandom } from '../runtime/seeded-random.js'
import { InvariantTracker, InvariantViolation, type Violation } from './invariants.js'
import { checkSeed, seedStream } from './seed-streams.js'
import { SimLog } from './sim-log.js'
import { describeMessage, describeRecord, formatTrace } from './trace.js'

/**
 * A deliberately broken environment for {@link simulateRuntime}, to show the checks can fail:
 * - `log-acknowledges-before-sync`: every node's log resolves `append` before the records are
 *   durable (S2: a `vote: yes` leaves before its `prepared` record would survive a crash);
 * - `log-loses-last-synced-record`: a crash also loses the last record that was durable (a disk
 *   that lied about an fsync), so a node may forget a decision it already acted on (S1/S4).
 */
export type RuntimeSimulationMutant = 'log-acknowledges-before-sync' | 'log-loses-last-synced-record'

/** Every {@link RuntimeSimulationMutant}. */
export const RUNTIME_MUTANTS: readonly RuntimeSimulationMutant[] = [
  'log-acknowledges-before-sync',
  'log-loses-last-synced-record',
]

/** Options of {@link simulateRuntime}. */
export interface RuntimeSimulationOptions {
  /** Drives everything: the cluster, the workload, the faults, every scheduling choice. */
  readonly seed: number
  /** How many transactions the coordinator's caller begins. @default drawn from the seed, 1–5 */
  readonly transactions?: number
  /** How many participants (`p1`, `p2`, …). @default drawn from the seed, 2–3 */
  readonly participants?: number
  /** Most steps of the faulty phase; it ends sooner once nothing but a crash could happen. @default 300 */
  readonly steps?: number
  /** Steps the liveness phase may take to reach L1 before that is a failure. @default 3000 */
  readonly livenessSteps?: number
  /**
   * Run the coordinator with admission control: `maxInFlightTransactions` 1 or 2 (drawn from the
   * seed) and every other `commit()` waiting its turn (`maxQueuedTransactions`), so that crashes,
   * cancels and restarts also hit calls that wait or were just let in.
   * @default drawn from the seed: half of the histories
   */
  readonly admission?: boolean
  /** Run in a broken environment (tests of the checks only). */
  readonly mutant?: RuntimeSimulationMutant
  /**
   * Let a message sent to one life of a node reach a later life of it (a datagram, a queue or a
   * retrying HTTP client that outlives its recipient's restart), also after the recipient compacted
   * the transaction away. Protocol version 2 is safe there (a request bound to an earlier life is
   * refused); `false` keeps every message within the life it was sent to.
   * @default true
   */
  readonly staleDeliveries?: boolean
}

/** What one history of {@link simulateRuntime} did. */
export interface RuntimeSimulationResult {
  /** The seed that replays this history (with the same `options`). */
  readonly seed: number
  /** The options this history ran with: passing them again replays it. */
  readonly options: RuntimeSimulationOptions
  /** The broken environment, if any. */
  readonly mutant: RuntimeSimulationMutant | undefined
  /** The participants' ids. */
  readonly participants: readonly NodeId[]
  /** Drawn settings of this history, in one line (workload, fault weights, compaction). */
  readonly setup: string
  /** The first invariant broken (S1–S7 at any step; L1 at the end), if any. */
  readonly violation: Violation | undefined
  /** One line per step: the simulated time, the choice made, and what the nodes did in response. */
  readonly trace: readonly string[]
  /** Steps the faulty phase took. */
  readonly faultySteps: number
  /** Steps the liveness phase took (to convergence, or to its limit). */
  readonly livenessSteps: number
  /** Simulated milliseconds. */
  readonly simulatedMs: number
  /** How each begun transaction's `commit()` promise settled (`commit`, `abort (reason)`, or the rejection's code). */
  readonly outcomes: ReadonlyMap<TxId, string>
}

/** Protocol timings of the simulated nodes (small, so that timers matter within a few hundred steps). */
const TIMING = {
  retransmitIntervalMs: 50,
  retransmitIntervalMsMax: 400,
  prepareTimeoutMs: 400,
  participantPrepareTimeoutMs: 300,
  cooperativeTerminationAfterMs: 1000,
} as const

/**
 * The microtask drain after each step ends once this many consecutive microtask turns pass with
 * no call into the simulation (send, append, timer, resource call, event). 64 and 1,000 give the
 * same traces over the first 300 seeds (8 does not): every chain a step starts has run out.
 */
const DRAIN_IDLE_TICKS = 64
/** …and in any case after this many turns (a runaway promise chain must not hang the run). */
const DRAIN_MAX_TICKS = 20_000

/**
 * Runs one deterministic simulated history of a cluster of the **real runtime classes**
 * (`Coordinator`, `Participant`: their `NodeRuntime`, promise chains, group commit and p-retry
 * loops), where `simulate` runs the pure cores. One seed drives everything:
 *
 * - one simulated {@link Clock} for all nodes: time advances only when the simulation fires the
 *   next due timer;
 * - one simulated network: every message sent is in flight until the simulation delivers it
 *   (a JSON copy, to the recipient's current incarnation), drops it or duplicates it, in any order;
 * - a {@link SimLog} per node: an append resolves only at a sync step of that node; a crash keeps
 *   the durable records and a seeded prefix of the unsynced tail;
 * - a simulated {@link Resource} per participant whose calls end at a step of their own.
 *   `prepare` answers yes, no or read-only, drawn from the seed but stable per (participant,
 *   transaction), as the `Resource` contract requires; it may also never answer before the
 *   participant's `prepareTimeoutMs` runs out. `commit` and `abort` never throw: the runtime
 *   retries them with p-retry on real timers, which would make the history depend on wall time;
 * - crashes (`close()` on the node, whose transport, timers, log appends and resource calls then
 *   go dead) and restarts (a new instance on the same log, with a fresh transport and a seeded
 *   `random`, then `start()`);
 * - admission control in half of the histories (see `admission`): `commit()` calls wait their turn;
 * - outside inputs: the caller cancels a `commit()` (its `signal`), an operator resolves an
 *   in-doubt transaction by hand (`resolveManually`), or the network delivers a copy of a message
 *   as if sent by a node outside its transaction.
 *
 * After each step the microtasks drain (no real timer or macrotask is ever used). S1–S7 are
 * checked at every effect with {@link InvariantTracker}: S2 when a message leaves, against the
 * records that were durable in the sender's log by then. Then a liveness phase: every
 * down node restarts, no more crashes, drops or duplicates, and within `livenessSteps` every node
 * must have nothing in flight, every transaction must be decided wherever it was prepared, and
 * every `commit()` promise must have settled (L1).
 *
 * The network is a datagram network: a message sent to one life of a node may reach a later life
 * of it (unless `staleDeliveries: false`), messages from a node that crashed may still arrive, and
 * in half of the histories logs compact (`forget`) while such stale messages are in flight.
 *
 * @example
 * ```ts
 * const result = await simulateRuntime({ seed: 42 })
 * if (result.violation) console.log(formatRuntimeSimulationFailure(result))
 * ```
 */
export async function simulateRuntime(options: RuntimeSimulationOptions): Promise<RuntimeSimulationResult> {
  return new RuntimeSimulation(options).run()
}

/** How to rerun one history of {@link simulateRuntime}: the test suite's variable, or the call. */
function replayLine(options: RuntimeSimulationOptions): string {
  const fields = Object.entries(options).map(
    ([key, value]) => `${key}: ${typeof value === 'string' ? `'${value}'` : String(value)}`,
  )
  const call = `simulateRuntime({ ${fields.join(', ')} })`
  const onlySeed = Object.keys(options).every((key) => key === 'seed')
  return onlySeed
    ? `TWOPC_RUNTIME_SIM_SEED=${options.seed} npx vitest run test/testing/runtime-simulation.test.ts   # or ${call} from 'twopc/testing'`
    : `${call} from 'twopc/testing'`
}

/**
 * A report of a {@link simulateRuntime} history: the seed, the violation, the drawn setup, the
 * last `lastSteps` lines of the trace and the line that replays it.
 */
export function formatRuntimeSimulationFailure(result: RuntimeSimulationResult, lastSteps = 80): string {
  const { violation } = result
  return [
    `Runtime simulation seed ${result.seed}${result.mutant === undefined ? '' : ` (mutant ${result.mutant})`} ${
      violation === undefined ? 'kept every invariant' : `broke ${violation.invariant}: ${violation.message}`
    }`,
    result.setup,
    `trace (${result.trace.length} steps, ${result.simulatedMs}ms simulated):`,
    formatTrace(result.trace, { last: lastSteps }),
    `replay: ${replayLine(result.options)}`,
  ].join('\n')
}

/** Derives one of the independent random streams of a history from its seed. */
function stream(seed: number, index: number): () => number {
  return seedStream(seed, 0x2545f491, index)
}

/** One life of a node, from its construction to its crash. */
interface Incarnation {
  readonly id: NodeId
  readonly number: number
  alive: boolean
  started: boolean
  handler: ((message: unknown) => void) | undefined
  node: Coordinator | Participant | undefined
}

interface SimNodeState {
  readonly id: NodeId
  readonly log: SimLog
  current: Incarnation | undefined
  lives: number
}

interface SimTimer {
  readonly seq: number
  readonly owner: Incarnation
  readonly dueAt: number
  readonly delayMs: number
  readonly callback: () => void
}

interface InFlight {
  readonly message: Message
  /** The life of the recipient that was current when the message was sent (or the last one, if it was down). */
  readonly toLife: number
  /** The message as sent, in JSON: each delivery parses a fresh copy. */
  readonly json: string
}

interface PendingCall {
  readonly owner: Incarnation
  readonly operation: ResourceRequest['type']
  readonly tx: TransactionInfo
  readonly resolve: (value: Vote | undefined) => void
}

interface PlannedTx {
  readonly txId: TxId
  readonly participants: readonly NodeId[]
}

type Category =
  | 'begin'
  | 'deliver'
  | 'drop'
  | 'duplicate'
  | 'sync'
  | 'resource'
  | 'timer'
  | 'crash'
  | 'restart'
  /** An outside input: the caller cancels, an operator resolves by hand, or a sender is forged. */
  | 'input'

/** One history in progress. */
class RuntimeSimulation {
  private readonly options: RuntimeSimulationOptions
  private readonly seed: number
  private readonly mutant: RuntimeSimulationMutant | undefined
  private readonly choose: () => number
  private readonly voteRandom: () => number
  private readonly nodeRandom: () => number
  private readonly participants: NodeId[]
  private readonly plan: PlannedTx[]
  private readonly compaction: boolean
  /** The coordinator's `maxInFlightTransactions` with admission control, if it runs with it. */
  private readonly maxInFlight: number | undefined
  private readonly staleDeliveries: boolean
  private readonly weights: Readonly<Record<Category, number>>
  private readonly faultySteps: number
  private readonly livenessLimit: number
  private readonly tracker = new InvariantTracker('coord')
  private readonly nodes = new Map<NodeId, SimNodeState>()
  private readonly timers = new Map<number, SimTimer>()
  private readonly votes = new Map<string, Vote>()
  private readonly outcomes = new Map<TxId, string>()
  /** The `signal` of each begun transaction's `commit()` call, to cancel it. */
  private readonly cancels = new Map<TxId, AbortController>()
  private readonly trace: string[] = []
  private inFlight: InFlight[] = []
  private calls: PendingCall[] = []
  private now = 0
  private seq = 0
  private activity = 0
  private begun = 0
  private notes: string[] = []
  private violation: Violation | undefined
  private unexpected: unknown

  constructor(options: RuntimeSimulationOptions) {
    this.options = { ...options }
    this.seed = checkSeed(options.seed)
    if (options.mutant !== undefined && !RUNTIME_MUTANTS.includes(options.mutant))
      invalidOption('mutant', `one of ${RUNTIME_MUTANTS.join(', ')}`, options.mutant)
    this.mutant = options.mutant
    const setup = stream(options.seed, 0)
    this.choose = stream(options.seed, 1)
    this.voteRandom = stream(options.seed, 2)
    this.nodeRandom = stream(options.seed, 3)
    const between = (min: number, max: number) => min + Math.floor(setup() * (max - min + 1))
    const participantCount = options.participants ?? between(2, 3)
    const transactionCount = options.transactions ?? between(1, 5)
    if (!Number.isSafeInteger(participantCount) || participantCount < 1)
      invalidOption('participants', 'a positive integer', participantCount)
    if (!Number.isSafeInteger(transactionCount) || transactionCount < 0)
      invalidOption('transactions', 'a non-negative integer', transactionCount)
    this.participants = Array.from({ length: participantCount }, (_, i) => `p${i + 1}`)
    this.plan = Array.from({ length: transactionCount }, (_, i) => {
      const chosen = this.participants.filter(() => setup() < 0.6)
      const fallback = this.participants[between(0, participantCount - 1)] ?? 'p1'
      return { txId: `t${i + 1}`, participants: chosen.length > 0 ? chosen : [fallback] }
    })
    this.staleDeliveries = options.staleDeliveries ?? true
    this.compaction = setup() < 0.5
    // Drawn from a stream of its own, so that the other draws of a seed stay what they were.
    const admission = stream(options.seed, 4)
    this.maxInFlight = (options.admission ?? admission() < 0.5) ? 1 + Math.floor(admission() * 2) : undefined
    const pick = (values: readonly number[]) => values[between(0, values.length - 1)] ?? 0
    this.weights = {
      begin: 2,
      deliver: 10,
      drop: pick([0, 0.5, 1.5]),
      duplicate: pick([0, 0.5, 1.5]),
      sync: 4,
      resource: 4,
      timer: pick([1, 2, 4]),
      crash: pick([0, 0.3, 1]),
      restart: 2,
      input: pick([0, 0, 0.3]),
    }
    this.faultySteps = options.steps ?? 300
    this.livenessLimit = options.livenessSteps ?? 3000
    const lies = this.mutant === 'log-acknowledges-before-sync'
    for (const id of ['coord', ...this.participants]) {
      const losesSyncedRecordOnCrash = this.mutant === 'log-loses-last-synced-record'
      const log = new SimLog({ lies, compaction: this.compaction, losesSyncedRecordOnCrash })
      this.nodes.set(id, { id, log, current: undefined, lives: 0 })
    }
  }

  private get setupLine(): string {
    const workload = this.plan.map((tx) => `${tx.txId}(${tx.participants.join(',')})`).join(' ')
    const faults = (['drop', 'duplicate', 'crash', 'timer'] as const)
      .map((category) => `${category} ${this.weights[category]}`)
      .join(', ')
    const network = `${this.compaction ? 'compaction' : 'no compaction'}, datagram network (messages from a crashed node still arrive)`
    const admission =
      this.maxInFlight === undefined
        ? ''
        : `; admission control: ${this.maxInFlight} in flight, the rest wait`
    return `${this.participants.length} participants, ${workload || 'no transactions'}; weights: ${faults}; ${network}${
      this.staleDeliveries ? '; stale deliveries to a later life' : ''
    }${admission}`
  }

  async run(): Promise<RuntimeSimulationResult> {
    for (const node of this.nodes.values()) this.boot(node)
    await this.drain()
    this.note('Start(all)')
    let faulty = 0
    while (faulty < this.faultySteps && this.violation === undefined) {
      if (!(await this.step(false))) break
      faulty += 1
    }
    const liveness = this.violation === undefined ? await this.terminate() : 0
    return {
      seed: this.seed,
      options: this.options,
      mutant: this.mutant,
      participants: this.participants,
      setup: this.setupLine,
      violation: this.violation,
      trace: this.trace,
      faultySteps: faulty,
      livenessSteps: liveness,
      simulatedMs: this.now,
      outcomes: this.outcomes,
    }
  }

  /** The liveness phase: restart everything, no more faults, and L1 within the limit. */
  private async terminate(): Promise<number> {
    this.trace.push(`[${this.now}ms] — liveness phase: no more crashes, drops or duplicates —`)
    let steps = 0
    for (;;) {
      if (this.violation !== undefined) return steps
      const why = this.notConverged()
      if (why === undefined) {
        this.trace.push(`[${this.now}ms] ✓ L1 after ${steps} liveness steps`)
        return steps
      }
      if (steps >= this.livenessLimit || !(await this.step(true))) {
        this.violation = { invariant: 'L1', message: `no convergence after ${steps} liveness steps: ${why}` }
        this.trace.push(`[${this.now}ms] ✗ L1: ${this.violation.message}`)
        return steps
      }
      steps += 1
    }
  }

  /** Why the cluster has not reached L1 yet, or `undefined` if it has. */
  private notConverged(): string | undefined {
    const reasons: string[] = []
    if (this.begun < this.plan.length) reasons.push(`${this.plan.length - this.begun} transactions not begun`)
    for (const node of this.nodes.values()) {
      const life = node.current
      if (life?.node === undefined || !life.started) {
        reasons.push(`${node.id} is down`)
        continue
      }
      const stats = life.node.stats()
      if (stats.inFlight > 0) {
        reasons.push(
          `${node.id} has ${stats.inFlight} in flight${stats.inDoubt > 0 ? ` (${stats.inDoubt} in doubt)` : ''}`,
        )
      }
    }
    for (const tx of this.plan.slice(0, this.begun)) {
      for (const id of tx.participants) {
        if (
          this.tracker.wasDurable(id, `prepared ${tx.txId}`) &&
          this.tracker.held(id, tx.txId).length === 0
        ) {
          reasons.push(`${tx.txId} prepared at ${id} but undecided there`)
        }
      }
      if (!this.outcomes.has(tx.txId)) reasons.push(`commit() of ${tx.txId} has not settled`)
    }
    return reasons.length > 0 ? reasons.join('; ') : undefined
  }

  /** Chooses and applies one action, drains, checks. Returns false if nothing can happen. */
  private async step(healed: boolean): Promise<boolean> {
    const category = this.pickCategory(healed)
    if (category === undefined) return false
    this.notes = []
    const action = this.apply(category)
    await this.drain()
    if (this.unexpected !== undefined) throw this.unexpected
    const effects = this.notes.length > 0 ? ` ⇒ ${this.notes.join(', ')}` : ''
    this.trace.push(`[${this.now}ms] ${action}${effects}`)
    if (this.violation !== undefined) {
      this.trace.push(`[${this.now}ms] ✗ ${this.violation.invariant}: ${this.violation.message}`)
    }
    return true
  }

  private pickCategory(healed: boolean): Category | undefined {
    const enabled: [Category, number][] = []
    const add = (category: Category, possible: boolean) => {
      const fault = category === 'drop' || category === 'duplicate' || category === 'crash'
      if (possible && !(healed && fault) && this.weights[category] > 0)
        enabled.push([category, this.weights[category]])
    }
    const coordinator = this.nodes.get('coord')?.current
    const down = [...this.nodes.values()].some((node) => node.current === undefined)
    add('begin', this.begun < this.plan.length && coordinator?.started === true)
    add('deliver', this.deliverable().length > 0)
    add('drop', this.inFlight.length > 0)
    add('duplicate', this.inFlight.length > 0)
    add(
      'sync',
      [...this.nodes.values()].some((node) => node.log.unsynced > 0),
    )
    add('resource', this.calls.length > 0)
    add('timer', this.timers.size > 0)
    // A crash of a quiet cluster proves nothing new and would only repeat: crash while there is work.
    add('crash', enabled.length > 0 && [...this.nodes.values()].some((node) => node.current !== undefined))
    if (healed && down) return 'restart'
    add('restart', down)
    // Like a crash, an outside input only while there is other work (a quiet cluster stays quiet).
    add('input', !healed && this.begun > 0 && enabled.some(([category]) => category !== 'input'))
    const total = enabled.reduce((sum, [, weight]) => sum + weight, 0)
    if (total === 0) return undefined
    let draw = this.choose() * total
    for (const [category, weight] of enabled) {
      draw -= weight
      if (draw < 0) return category
    }
    return enabled[enabled.length - 1]?.[0]
  }

  private pickOne<T>(items: readonly T[]): T {
    return items[Math.floor(this.choose() * items.length)] as T
  }

  /** Messages whose recipient is up and, unless `staleDeliveries`, in the life they were sent to. */
  private deliverable(): InFlight[] {
    return this.inFlight.filter((entry) => {
      const life = this.nodes.get(entry.message.to)?.current
      return life?.handler !== undefined && (this.staleDeliveries || life.number === entry.toLife)
    })
  }

  private apply(category: Category): string {
    switch (category) {
      case 'begin':
        return this.begin()
      case 'deliver': {
        const entry = this.pickOne(this.deliverable())
        this.inFlight = this.inFlight.filter((other) => other !== entry)
        this.nodes.get(entry.message.to)?.current?.handler?.(JSON.parse(entry.json))
        return `Deliver(${describeMessage(entry.message)})`
      }
      case 'drop': {
        const entry = this.pickOne(this.inFlight)
        this.inFlight = this.inFlight.filter((other) => other !== entry)
        return `Drop(${describeMessage(entry.message)})`
      }
      case 'duplicate': {
        const entry = this.pickOne(this.inFlight)
        this.inFlight.push({ ...entry })
        return `Duplicate(${describeMessage(entry.message)})`
      }
      case 'sync': {
        const node = this.pickOne([...this.nodes.values()].filter((candidate) => candidate.log.unsynced > 0))
        const records = node.log.sync()
        this.check(() => this.tracker.recordsDurable(node.id, records))
        return `Sync(${node.id}: ${records.map(describeRecord).join(', ')})`
      }
      case 'resource':
        return this.completeCall(this.pickOne(this.calls))
      case 'timer':
        return this.fireNextTimer()
      case 'crash':
        return this.crash(this.pickOne([...this.nodes.values()].filter((node) => node.current !== undefined)))
      case 'restart': {
        const node = this.pickOne(
          [...this.nodes.values()].filter((candidate) => candidate.current === undefined),
        )
        this.boot(node)
        return `Restart(${node.id}: ${node.log.durable.length} durable records)`
      }
      case 'input':
        return this.outsideInput()
    }
  }

  /** A cancel of a begun transaction, a resolution by hand of one in doubt, or a forged sender. */
  private outsideInput(): string {
    const kind = Math.floor(this.choose() * 3)
    const unsettled = [...this.cancels].filter(([txId]) => !this.outcomes.has(txId))
    if (kind === 0 && unsettled.length > 0) {
      const [txId, controller] = this.pickOne(unsettled)
      controller.abort()
      return `Cancel(${txId})`
    }
    if (kind === 1) {
      const inDoubt = [...this.nodes.values()].flatMap((node) => {
        const participant = node.current?.started ? node.current.node : undefined
        return participant instanceof Participant
          ? participant.inDoubt().map((tx) => ({ participant, id: node.id, txId: tx.txId }))
          : []
      })
      if (inDoubt.length > 0) {
        const { participant, id, txId } = this.pickOne(inDoubt)
        const decision = this.choose() < 0.5 ? 'commit' : 'abort'
        this.tracker.resolvedByHand(id, txId)
        participant.resolveManually(txId, decision, { reason: 'simulated operator' }).catch(() => {})
        return `Resolve(${id} ${txId} → ${decision})`
      }
    }
    const candidates = this.inFlight.filter((entry) => entry.message.type !== 'prepare')
    if (candidates.length === 0) return 'Input(nothing to forge)'
    const entry = this.pickOne(candidates)
    const members = new Set(['coord', ...this.tracker.participantsOf(entry.message.txId)])
    const outsiders = [...this.nodes.keys()].filter((id) => !members.has(id))
    if (outsiders.length === 0) return 'Input(no outsider to forge)'
    const message = { ...entry.message, from: this.pickOne(outsiders) }
    this.inFlight.push({ ...entry, message, json: JSON.stringify(message) })
    return `Forge(${describeMessage(message)})`
  }

  private begin(): string {
    const tx = this.plan[this.begun] as PlannedTx
    this.begun += 1
    const coordinator = this.nodes.get('coord')?.current?.node as Coordinator
    this.tracker.begin(tx.txId, tx.participants)
    const participants = Object.fromEntries(tx.participants.map((id) => [id, { share: `${tx.txId}@${id}` }]))
    const controller = new AbortController()
    this.cancels.set(tx.txId, controller)
    coordinator.commit({ txId: tx.txId, participants, signal: controller.signal }).then(
      (outcome) => {
        this.outcomes.set(tx.txId, outcome.decision === 'commit' ? 'commit' : `abort (${outcome.reason})`)
      },
      (error: unknown) => {
        this.outcomes.set(tx.txId, `rejected: ${(error as { code?: string }).code ?? String(error)}`)
      },
    )
    return `Begin(${tx.txId}: ${tx.participants.join(',')})`
  }

  private completeCall(call: PendingCall): string {
    this.calls = this.calls.filter((other) => other !== call)
    const name = `${call.owner.id} ${call.operation} ${call.tx.txId}`
    if (call.operation !== 'prepare') {
      call.resolve(undefined)
      return `Resource(${name} done)`
    }
    const key = `${call.owner.id}\u0000${call.tx.txId}`
    let vote = this.votes.get(key)
    if (vote === undefined) {
      const draw = this.voteRandom()
      vote = draw < 0.75 ? 'yes' : draw < 0.88 ? 'no' : 'read-only'
      this.votes.set(key, vote)
    }
    call.resolve(vote)
    return `Resource(${name} → ${vote})`
  }

  private fireNextTimer(): string {
    let next: SimTimer | undefined
    for (const timer of this.timers.values()) if (next === undefined || timer.dueAt < next.dueAt) next = timer
    const timer = next as SimTimer
    this.timers.delete(timer.seq)
    this.now = Math.max(this.now, timer.dueAt)
    timer.callback()
    return `Fire(${timer.owner.id} timer of ${timer.delayMs}ms)`
  }

  private crash(node: SimNodeState): string {
    const life = node.current as Incarnation
    life.alive = false
    life.handler = undefined
    node.current = undefined
    for (const timer of [...this.timers.values()]) if (timer.owner === life) this.timers.delete(timer.seq)
    this.calls = this.calls.filter((call) => call.owner !== life)
    // close() rejects the coordinator's pending commit() promises and stops the runtime at once;
    // its remaining part awaits effects that will never complete, so it is not awaited.
    life.node?.close().catch(() => {})
    const unsynced = node.log.unsynced
    const keep = Math.floor(this.choose() * (unsynced + 1))
    const lost = this.mutant === 'log-loses-last-synced-record' ? node.log.durable.at(-1) : undefined
    const kept = node.log.crash(keep)
    this.check(() => this.tracker.recordsDurable(node.id, kept))
    const lostSynced = lost === undefined ? '' : `, lost durable ${describeRecord(lost)}`
    const before = this.inFlight.length
    this.inFlight = this.inFlight.filter((entry) => this.staleDeliveries || entry.message.to !== node.id)
    const lostMessages = before - this.inFlight.length
    return `Crash(${node.id}: kept ${kept.length} of ${unsynced} unsynced records${lostSynced}${
      lostMessages > 0 ? `, ${lostMessages} messages lost with it` : ''
    })`
  }

  /** Builds and starts a new incarnation of `node` on its log. */
  private boot(node: SimNodeState): void {
    node.lives += 1
    const life: Incarnation = {
      id: node.id,
      number: node.lives,
      alive: true,
      started: false,
      handler: undefined,
      node: undefined,
    }
    node.current = life
    const transport: Transport = {
      send: (message) => this.send(life, message),
      onMessage: (handler) => {
        if (life.alive) life.handler = handler
      },
    }
    const edges = {
      transport,
      log: node.log,
      clock: this.clockFor(life),
      random: seededRandom(Math.floor(this.nodeRandom() * 2 ** 32)),
      retransmitIntervalMs: TIMING.retransmitIntervalMs,
      retransmitIntervalMsMax: TIMING.retransmitIntervalMsMax,
    }
    if (node.id === 'coord') {
      const admission =
        this.maxInFlight === undefined
          ? {}
          : { maxInFlightTransactions: this.maxInFlight, maxQueuedTransactions: this.plan.length }
      const coordinator = new Coordinator({
        id: node.id,
        ...edges,
        ...admission,
        prepareTimeoutMs: TIMING.prepareTimeoutMs,
      })
      coordinator.on('decided', (event) =>
        this.observe(life, event, `coord decided ${event.decision} ${event.txId}`),
      )
      life.node = coordinator
    } else {
      const participant = new Participant({
        id: node.id,
        ...edges,
        resource: this.resourceFor(life),
        prepareTimeoutMs: TIMING.participantPrepareTimeoutMs,
        cooperativeTerminationAfterMs: TIMING.cooperativeTerminationAfterMs,
      })
      participant.on('decided', (event) =>
        this.observe(life, event, `${node.id} decided ${event.decision} ${event.txId}`),
      )
      participant.on('applied', (event) => this.observe(life, event, undefined))
      life.node = participant
    }
    life.node.start().then(
      () => {
        life.started = true
        this.activity += 1
      },
      (error: unknown) => {
        this.unexpected ??= error
      },
    )
  }

  private observe(
    life: Incarnation,
    event: Parameters<InvariantTracker['event']>[1],
    note: string | undefined,
  ): void {
    this.activity += 1
    if (!life.alive) return
    if (note !== undefined) this.notes.push(note)
    this.check(() => this.tracker.event(life.id, event))
  }

  private send(life: Incarnation, message: Message): void {
    this.activity += 1
    if (!life.alive) return
    this.notes.push(describeMessage(message))
    this.check(() => this.tracker.messageSent(life.id, message))
    const recipient = this.nodes.get(message.to)
    // A message to a node that is down could only reach a later life of it.
    if (recipient?.current === undefined && !this.staleDeliveries) return
    const toLife = recipient?.current?.number ?? recipient?.lives ?? 0
    this.inFlight.push({ message, toLife, json: JSON.stringify(message) })
  }

  /**
   * The simulated clock of one life. The end of a turn (`nextTurn`: when a node appends the records
   * of the inputs it stepped since the last one) is a timer due now, fired at a step of its own, so
   * a batch may hold the inputs of several steps.
   */
  private clockFor(owner: Incarnation): Clock {
    const setTimeout = (callback: () => void, delayMs: number) => {
      this.activity += 1
      const seq = ++this.seq
      if (owner.alive) this.timers.set(seq, { seq, owner, dueAt: this.now + delayMs, delayMs, callback })
      return seq
    }
    return {
      now: () => this.now,
      setTimeout,
      clearTimeout: (handle) => {
        this.activity += 1
        this.timers.delete(handle as number)
      },
      nextTurn: (callback) => {
        setTimeout(callback, 0)
      },
    }
  }

  private resourceFor(owner: Incarnation): Resource {
    const call = (operation: ResourceRequest['type'], tx: TransactionInfo) =>
      new Promise<Vote | undefined>((resolve) => {
        this.activity += 1
        if (!owner.alive) return
        this.notes.push(`${owner.id} resource.${operation} ${tx.txId}`)
        this.check(() => this.tracker.resourceCall(owner.id, { type: operation, tx }))
        this.calls.push({ owner, operation, tx, resolve })
      })
    return {
      prepare: (tx) => call('prepare', tx) as Promise<Vote>,
      commit: async (tx) => {
        await call('commit', tx)
      },
      abort: async (tx) => {
        await call('abort', tx)
      },
    }
  }

  /** Runs a check; the first violation is kept (throwing into the runtime would be swallowed there). */
  private check(run: () => void): void {
    try {
      run()
    } catch (error) {
      if (!(error instanceof InvariantViolation)) this.unexpected ??= error
      else this.violation ??= error.violation
    }
  }

  /**
   * Lets every promise chain the step started run to its end: microtask turns until
   * `DRAIN_IDLE_TICKS` pass with no call into the simulation. No timer or macrotask is involved,
   * so the interleaving is the same on every run.
   */
  private async drain(): Promise<void> {
    let idle = 0
    let mark = this.progress()
    for (let ticks = 0; idle < DRAIN_IDLE_TICKS && ticks < DRAIN_MAX_TICKS; ticks++) {
      await Promise.resolve()
      const now = this.progress()
      idle = now === mark ? idle + 1 : 0
      mark = now
    }
  }

  private progress(): number {
    let total = this.activity
    for (const node of this.nodes.values()) total += node.log.appends
    return total
  }

  private note(line: string): void {
    this.trace.push(`[${this.now}ms] ${line}`)
  }
}
