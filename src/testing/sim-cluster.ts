import type { Message } from '../core/messages.js'
import type { Ready, TimerKind } from '../core/ready.js'
import type { LogRecord } from '../core/records.js'
import type { Decision, Json, NodeId, TxId } from '../core/types.js'
import { type CanonicalOptions, canonicalize } from './canonical.js'
import { InvariantTracker, InvariantViolation, type Violation } from './invariants.js'
import {
  type CoordinatorSimCore,
  createCores,
  createReadyQueue,
  type MutantName,
  type ParticipantSimCore,
} from './mutants.js'
import type { ProbeName } from './probes.js'
import { SimDisk } from './sim-disk.js'
import { SimNetwork } from './sim-network.js'
import { type PendingReady, type SimEvent, SimNode } from './sim-node.js'
import { HAPPY_RESOURCE, type ResourceBehaviour } from './sim-resource.js'
import { describeKey, describeMessage, describeRecord, type SimAction } from './trace.js'

/** Protocol timings of a simulated cluster, in simulated milliseconds. */
export interface SimTiming {
  /** Cores' first retransmission interval. */
  readonly retransmitIntervalMs: number
  /** Cores' cap on the retransmission interval. */
  readonly retransmitIntervalMsMax: number
  /** Coordinator: how long it waits for every vote. */
  readonly prepareTimeoutMs: number
  /** Participant: how long an in-doubt participant asks only the coordinator. */
  readonly cooperativeTerminationAfterMs: number
  /** Participant runtime: how long `resource.prepare` may take before it counts as `no` (a hang). */
  readonly participantPrepareTimeoutMs: number
}

/** Timings used when a cluster is built without them. */
export const DEFAULT_SIM_TIMING: SimTiming = {
  retransmitIntervalMs: 50,
  retransmitIntervalMsMax: 400,
  prepareTimeoutMs: 400,
  cooperativeTerminationAfterMs: 1000,
  participantPrepareTimeoutMs: 300,
}

/**
 * What happens to messages in flight when a node crashes or restarts:
 * - `datagram`: nothing; a message sent before a restart may still arrive after it, also after
 *   the recipient compacted the transaction away (protocol version 2 is safe there: the new life
 *   refuses requests bound to an earlier one);
 * - `connection`: messages from or to the node are lost, as a TCP connection reset would lose
 *   them, and nothing sent to a node before its restart reaches the new incarnation.
 */
export type NetworkSemantics = 'datagram' | 'connection'

/** Options of a {@link SimCluster}. */
export interface SimClusterOptions {
  /** Participant ids. */
  readonly participants: readonly NodeId[]
  /** The coordinator's id. @default 'coord' */
  readonly coordinator?: NodeId
  /** Protocol timings. @default DEFAULT_SIM_TIMING */
  readonly timing?: Partial<SimTiming>
  /** The cores' `random` (backoff jitter). @default () => 0.5 */
  readonly random?: () => number
  /** Compact a log (as `DurableLog.forget`) once an `end` record is durable. @default false */
  readonly compaction?: boolean
  /** @default 'datagram' */
  readonly network?: NetworkSemantics
  /** The cores' `rememberedTransactions` (how many finished transactions each remembers). @default the cores' default */
  readonly rememberedTransactions?: number
  /** The network as a set of messages, each deliverable any number of times (the model checker's mode; see `SimNetwork`). @default false */
  readonly messageSet?: boolean
  /** Run a broken core (tests only). @default the real cores */
  readonly mutant?: MutantName
  /** Each participant's resource. @default HAPPY_RESOURCE */
  readonly resources?: Readonly<Record<NodeId, ResourceBehaviour>>
  /**
   * Most pending `Ready`s per node: while a node has this many, no new input reaches it (the
   * model checker bounds queues to keep its state space finite). @default Infinity
   */
  readonly maxPendingReadys?: number
  /**
   * Run the effects of a `Ready` as soon as they may run, as part of the action that released
   * them (the model checker's mode). The runtime does the same: effects run in microtasks once
   * the records are durable, before the next message is handled. A crash between two sends is
   * then not a separate state, which loses nothing with a `messageSet` network: a message sent
   * and never delivered is indistinguishable from one never sent. @default false
   */
  readonly eagerEffects?: boolean
}

/** Marks a send that added nothing to a `messageSet` network. */
const MERGED = ' (already in flight)'

/** Property names of core state that are configuration, left out of canonical states. */
const CONFIGURATION = new Set(['options', 'prepareTimeoutMs', 'cooperativeTerminationAfterMs', 'limit'])

/**
 * A whole simulated cluster running the REAL `CoordinatorCore` and `ParticipantCore` (or a
 * mutant): one coordinator and N participants, each with a {@link SimDisk}, pending `Ready`s,
 * timers and resource calls, joined by a {@link SimNetwork}, with S1–S7 checked at every
 * effect by an {@link InvariantTracker}.
 *
 * It is a deterministic transition system: {@link apply} takes one {@link SimAction} and
 * returns a line of trace, or undefined if the action is not possible now. Schedulers choose
 * the actions: the random simulator (`simulate`), the fast-check commands and the model checker
 * (which branches with {@link clone} and merges states by {@link canonical}).
 *
 * A `Ready` is executed exactly as the runtime's `NodeRuntime` does: records are appended to
 * the disk at once (unsynced); its messages, then its timers, requests and events, run after
 * every earlier `Ready`'s, and — if `forceRecords` — only once a `sync` made its records durable.
 * A crash may come between any two of these steps.
 */
export class SimCluster {
  /** The coordinator's id. */
  readonly coordinatorId: NodeId
  /** Participant ids. */
  readonly participantIds: readonly NodeId[]
  /**
   * Every node by id, the coordinator first. Read only: nodes may be shared with clones
   * (copy-on-write), and the cluster copies one before it changes it.
   */
  readonly nodes: Map<NodeId, SimNode>
  /** Messages in flight. */
  readonly network: SimNetwork
  /** Ghost state of the invariants. */
  readonly tracker: InvariantTracker
  /** How often each probe fired. */
  readonly probes: Map<ProbeName, number>
  /** The first invariant broken, if any; the history ends there. */
  violation: Violation | undefined
  /** Simulated time in milliseconds; schedulers advance it. */
  now = 0
  /** Actions applied. */
  steps = 0
  /** Keys of the messages sent by the last action (merged copies included). */
  lastSent: string[] = []
  /** Network semantics in use. */
  readonly semantics: NetworkSemantics
  /** Whether logs are compacted. */
  readonly compaction: boolean
  /** Timings in use. */
  readonly timing: SimTiming
  /** Bound on pending `Ready`s per node. */
  readonly maxPendingReadys: number
  /** Whether effects run as soon as they may (see {@link SimClusterOptions.eagerEffects}). */
  readonly eagerEffects: boolean
  private readonly options: SimClusterOptions
  private nextCallId = 1
  /** The line of trace of the action in progress, so that a violation names what it was doing. */
  private describing: string | undefined
  /** Nodes shared with another cluster (after `clone`), copied before their first change here. */
  private readonly shared = new Set<NodeId>()
  /** Short tokens for canonical messages, by renaming and key, shared by every clone (messages are few). */
  private readonly canonicalMessages: Map<string, string>
  /** Short tokens for canonical node states, shared by every clone. */
  private readonly canonicalNodes: Map<string, string>

  /** Builds the cluster and starts every node from an empty disk. */
  constructor(options: SimClusterOptions, from?: SimCluster) {
    this.options = options
    this.coordinatorId = options.coordinator ?? 'coord'
    this.participantIds = [...options.participants]
    this.timing = { ...DEFAULT_SIM_TIMING, ...options.timing }
    this.compaction = options.compaction ?? false
    this.semantics = options.network ?? 'datagram'
    this.maxPendingReadys = options.maxPendingReadys ?? Number.POSITIVE_INFINITY
    this.eagerEffects = options.eagerEffects ?? false
    if (from !== undefined) {
      this.canonicalMessages = from.canonicalMessages
      this.canonicalNodes = from.canonicalNodes
      this.nodes = new Map(from.nodes)
      for (const id of this.nodes.keys()) {
        this.shared.add(id)
        from.shared.add(id)
      }
      this.network = from.network.clone()
      this.tracker = from.tracker.clone()
      this.probes = new Map(from.probes)
      this.violation = from.violation
      this.now = from.now
      this.steps = from.steps
      this.nextCallId = from.nextCallId
      return
    }
    const queue = () => createReadyQueue<PendingReady>(options.mutant)
    this.nodes = new Map([
      [
        this.coordinatorId,
        new SimNode(this.coordinatorId, 'coordinator', HAPPY_RESOURCE, new SimDisk(), queue()),
      ],
    ])
    for (const id of this.participantIds) {
      const behaviour = options.resources?.[id] ?? HAPPY_RESOURCE
      this.nodes.set(id, new SimNode(id, 'participant', behaviour, new SimDisk(), queue()))
    }
    this.canonicalMessages = new Map()
    this.canonicalNodes = new Map()
    this.network = new SimNetwork(options.messageSet ?? false)
    this.tracker = new InvariantTracker(this.coordinatorId)
    this.probes = new Map()
    for (const node of this.nodes.values()) {
      // A node starts as the runtime starts one: load the (empty) log and recover from it.
      this.start(node)
      this.recover(node, [])
    }
  }

  /** An independent copy with the same history so far (nodes are copied lazily, on their first change). */
  clone(): SimCluster {
    return new SimCluster(this.options, this)
  }

  /** The node `id`, to read; throws for an unknown id (a bug in the caller). */
  node(id: NodeId): SimNode {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`SimCluster has no node ${id}`)
    return node
  }

  /** Changes how participant `id`'s resource behaves from now on (fast-check's ResourceBehaviour command). */
  setBehaviour(id: NodeId, behaviour: ResourceBehaviour): void {
    this.writable(id).behaviour = behaviour
  }

  /** The node `id`, to change: copied first if a clone shares it; its canonical cache is cleared. */
  private writable(id: NodeId): SimNode {
    let node = this.node(id)
    if (this.shared.has(id)) {
      node = node.clone()
      this.nodes.set(id, node)
      this.shared.delete(id)
    }
    node.canonicalCache.clear()
    return node
  }

  /** The nodes outside transaction `txId` (neither its coordinator nor one of its participants): who a forged copy may claim to be. */
  outsidersOf(txId: TxId): NodeId[] {
    const members = new Set([this.coordinatorId, ...this.tracker.participantsOf(txId)])
    return [...this.nodes.keys()].filter((id) => !members.has(id))
  }

  /** Whether `node` can take one more input now (it is up and its queue is below the bound). */
  accepts(node: SimNode): boolean {
    return node.up && node.pending.size < this.maxPendingReadys
  }

  /**
   * Applies one action. Returns its line of trace, or undefined if it is not possible in this
   * state (nothing changed). After an invariant breaks, {@link violation} is set, the line says
   * so, and every later action is refused.
   */
  apply(action: SimAction): string | undefined {
    if (this.violation !== undefined) return undefined
    let line: string | undefined
    this.describing = undefined
    this.lastSent = []
    try {
      line = this.transition(action)
      if (line !== undefined && this.eagerEffects) {
        this.describing = undefined
        const effects = this.drain()
        if (effects.length > 0) line = `${line} ⇒ ${effects.join(', ')}`
      }
    } catch (error) {
      if (!(error instanceof InvariantViolation)) throw error
      this.violation = error.violation
      this.steps += 1
      // The violation came from the action itself, or from an effect it released (eager mode).
      const doing =
        line === undefined ? (this.describing ?? describeAction(action)) : `${line} ⇒ ${this.describing}`
      return `${doing}  ✗ ${error.violation.invariant}: ${error.violation.message}`
    }
    if (line !== undefined) this.steps += 1
    return line
  }

  /**
   * L1 (termination) as a list of what is still unfinished: nodes down, transactions in flight,
   * prepared transactions not decided, records not durable, logs that cannot be compacted.
   * Empty means L1 holds.
   */
  terminationProblems(): string[] {
    const problems: string[] = []
    for (const node of this.nodes.values()) {
      if (node.core === undefined) {
        problems.push(`${node.id} is down`)
        continue
      }
      if (node.core.inFlight > 0) problems.push(`${node.id} has ${node.core.inFlight} transactions in flight`)
      if (node.pending.size > 0) problems.push(`${node.id} has effects pending`)
      if (node.disk.unsynced > 0) problems.push(`${node.id} has records not yet durable`)
      const records = node.disk.durableRecords
      const ended = new Set(records.filter((record) => record.type === 'end').map((record) => record.txId))
      for (const record of records) {
        if ((record.type === 'commit' || record.type === 'prepared') && !ended.has(record.txId)) {
          problems.push(`${node.id}'s log keeps ${describeRecord(record)} with no end record`)
        }
      }
    }
    for (const txId of this.tracker.txIds) {
      for (const id of this.tracker.participantsOf(txId)) {
        if (this.tracker.wasDurable(id, `prepared ${txId}`) && this.tracker.held(id, txId).length === 0) {
          problems.push(`${id} prepared ${txId} and never learned the outcome`)
        }
      }
    }
    return problems
  }

  /**
   * The state as a canonical string, with participant ids renamed by `permutation` (symmetry).
   * Time, message ids, retransmission counters and timer delays are left out, and the invariants'
   * ghost state is reduced to what future checks read (see `InvariantTracker.canonical`): the model checker
   * abstracts time (any armed timer may fire, any message may arrive), and the order of the
   * messages of one `Ready` (it sends them in any order).
   */
  canonical(permutation?: ReadonlyMap<NodeId, NodeId>): string {
    const moved = permutation === undefined ? [] : [...permutation].filter(([from, to]) => from !== to)
    // The identity shares the cache of "no renaming".
    const cacheKey = moved
      .map(([from, to]) => `${from}>${to}`)
      .sort()
      .join(',')
    const options = this.canonicalOptions(moved.length === 0 ? undefined : permutation)
    const rename = options.rename ?? ((value: string) => value)
    const nodes = [...this.nodes.values()]
      .map((node) => `${rename(node.id)}:${this.nodeToken(node, cacheKey, options)}`)
      .sort()
    const network = this.network.inFlight
      .map((entry) => {
        const id = `${cacheKey}|${entry.key}`
        let token = this.canonicalMessages.get(id)
        if (token === undefined) {
          // Interned: equal canonical messages get the same short token.
          const text = canonicalize(entry.message, options)
          token = this.canonicalMessages.get(text)
          if (token === undefined) {
            token = `m${this.canonicalMessages.size}`
            this.canonicalMessages.set(text, token)
          }
          this.canonicalMessages.set(id, token)
        }
        return token
      })
      .sort()
    return `${nodes.join('\n')}\n${network.join(',')}\n${this.tracker.canonical(rename)}`
  }

  /** A short token for node `id`'s canonical state (no renaming): equal tokens, equal local states. */
  nodeState(id: NodeId): string {
    return this.nodeToken(this.node(id), '', this.canonicalOptions(undefined))
  }

  /**
   * A token for participant `id`'s local state with every participant id blinded (itself to
   * `SELF`, the others to `PEER`): the same for two participants whose states are equal up to
   * renaming. The model checker orders participants by it to pick few symmetry permutations.
   */
  shapeOf(id: NodeId): string {
    const blind = new Map(this.participantIds.map((other) => [other, other === id ? 'SELF' : 'PEER']))
    return this.nodeToken(this.node(id), 'shape', this.canonicalOptions(blind))
  }

  private canonicalOptions(permutation: ReadonlyMap<NodeId, NodeId> | undefined): CanonicalOptions {
    const threshold = this.timing.cooperativeTerminationAfterMs
    return {
      rename: (value: string): string => permutation?.get(value) ?? value,
      unordered: new Set(this.participantIds),
      skip: CONFIGURATION,
      // Retransmission counters only set delays (and the in-doubt event, which no invariant reads);
      // the time an in-doubt participant has waited only decides whether it asks its peers too.
      abstractNumber: (key, value) =>
        key === 'attempt' ? 0 : key === 'waitedMs' ? (value >= threshold ? 'T' : 'F') : value,
    }
  }

  /**
   * A node's canonical state, interned as a short token and cached on the node until it changes
   * (clones share unchanged nodes, so most nodes are not serialized again).
   */
  private nodeToken(node: SimNode, cacheKey: string, options: CanonicalOptions): string {
    let token = node.canonicalCache.get(cacheKey)
    if (token === undefined) {
      const text = this.canonicalNode(node, options)
      token = this.canonicalNodes.get(text)
      if (token === undefined) {
        token = `n${this.canonicalNodes.size}`
        this.canonicalNodes.set(text, token)
      }
      node.canonicalCache.set(cacheKey, token)
    }
    return token
  }

  private canonicalNode(node: SimNode, options: CanonicalOptions): string {
    if (node.core === undefined) {
      const answers = [...node.answers].map(([txId, vote]) => `${txId}:${vote}`).sort()
      return `down|${answers.join(',')}|${canonicalize(node.disk.durableRecords, options)}`
    }
    const durable = node.disk.durablePosition
    const pending = node.pending.items.map((ready) => {
      const waits = ready.durableAt !== undefined && ready.durableAt > durable ? ready.durableAt - durable : 0
      const messages = ready.messages.map((message) => canonicalize(message, options)).sort()
      const timers = ready.timers.map((timer) => `${timer.type} ${timer.timer} ${timer.txId}`)
      const requests = ready.requests.map((request) => `${request.type} ${request.tx.txId}`)
      const events = ready.events
        .filter((event) => event.type === 'decided' || event.type === 'applied')
        .map((event) => canonicalize(event, options))
      return `${waits}(${messages.join(',')})(${timers.join(',')})(${requests.join(',')})(${events.join(',')})`
    })
    const timers = [...node.timers.keys()].sort()
    const calls = node.calls.map((call) => `${call.request.type} ${call.request.tx.txId}`).sort()
    const answers = [...node.answers].map(([txId, vote]) => `${txId}:${vote}`).sort()
    return [
      answers.join(','),
      canonicalize(node.core, options),
      canonicalize(node.disk.durableRecords, options),
      canonicalize(node.disk.unsyncedRecords, options),
      pending.join(';'),
      timers.join(','),
      calls.join(','),
    ].join('|')
  }

  /** Runs `recover` on a node just started and queues its `Ready`. */
  private recover(node: SimNode, records: readonly LogRecord[]): Ready<SimEvent> {
    const ready =
      node.role === 'coordinator'
        ? (node.core as CoordinatorSimCore).recover(records)
        : (node.core as ParticipantSimCore).recover(records)
    node.enqueue(ready, { answers: false, recovery: true })
    return ready
  }

  private start(node: SimNode): void {
    const factory = createCores(this.options.mutant)
    const common = {
      id: node.id,
      random: this.options.random ?? (() => 0.5),
      retransmitIntervalMs: this.timing.retransmitIntervalMs,
      retransmitIntervalMsMax: this.timing.retransmitIntervalMsMax,
      ...(this.options.rememberedTransactions === undefined
        ? {}
        : { rememberedTransactions: this.options.rememberedTransactions }),
    }
    node.core =
      node.role === 'coordinator'
        ? factory.coordinator({ ...common, prepareTimeoutMs: this.timing.prepareTimeoutMs })
        : factory.participant({
            ...common,
            cooperativeTerminationAfterMs: this.timing.cooperativeTerminationAfterMs,
          })
    node.incarnation += 1
    node.downSince = undefined
  }

  private transition(action: SimAction): string | undefined {
    switch (action.type) {
      case 'begin':
        return this.begin(action.txId, action.participants)
      case 'deliver':
        return this.deliver(action.key, action.id)
      case 'lose': {
        const entry = this.network.find(action.id, action.key)
        if (entry === undefined) return undefined
        this.network.remove(entry)
        return `Lose(${describeMessage(entry.message)})${action.reason === 'loss' ? '' : ` [${action.reason}]`}`
      }
      case 'duplicate': {
        const entry = this.network.find(action.id, action.key)
        if (entry === undefined || this.network.messageSet) return undefined
        this.network.duplicate(entry, this.now)
        return `Duplicate(${describeMessage(entry.message)})`
      }
      case 'sync':
        return this.sync(action.node)
      case 'effect':
        return action.message === undefined
          ? this.effect(action.node, 0)
          : this.effect(action.node, action.message)
      case 'fire':
        return this.fire(action.node, action.txId, action.timer, action.late === true)
      case 'cancel':
        return this.cancel(action.txId)
      case 'resolve':
        return this.resolve(action.node, action.txId, action.decision)
      case 'forge':
        return this.forge(action.key, action.from)
      case 'resource':
        return this.resource(action)
      case 'crash':
        return this.crash(action.node, action.keep, action.torn)
      case 'restart':
        return this.restart(action.node)
    }
  }

  private begin(txId: TxId, participants: readonly NodeId[]): string | undefined {
    if (!this.accepts(this.node(this.coordinatorId)) || this.tracker.txIds.includes(txId)) return undefined
    const coordinator = this.writable(this.coordinatorId)
    this.tracker.begin(txId, participants)
    const payloads = new Map<NodeId, Json>(participants.map((id) => [id, txId]))
    const core = coordinator.core as CoordinatorSimCore
    coordinator.enqueue(core.step({ type: 'begin', txId, participants: payloads }), {
      answers: false,
      recovery: false,
    })
    return `Begin(${txId}: ${participants.join(',')})`
  }

  private deliver(key: string, id: number | undefined): string | undefined {
    const entry = this.network.find(id, key)
    if (entry === undefined) return undefined
    const recipient = this.nodes.get(entry.message.to)
    if (recipient === undefined || !this.accepts(recipient)) return undefined
    const node = this.writable(recipient.id)
    this.network.delivered(entry)
    const message = entry.message
    if (message.type === 'prepare' && this.persisting(node, message.txId)) {
      this.probe('duplicate-prepare-while-persisting')
    }
    const ready = this.stepMessage(node, message)
    if (
      entry.answer &&
      node.role === 'participant' &&
      ready.events.some((event) => event.type === 'decided')
    ) {
      this.probe('in-doubt-learned-by-decision-request')
    }
    node.enqueue(ready, { answers: message.type === 'decision-request', recovery: false })
    return `Deliver(${describeMessage(message)})`
  }

  /** Whether `node` has a `prepared` record of `txId` appended and not yet durable. */
  private persisting(node: SimNode, txId: TxId): boolean {
    return node.disk.unsyncedRecords.some((record) => record.type === 'prepared' && record.txId === txId)
  }

  private stepMessage(node: SimNode, message: Message): Ready<SimEvent> {
    return node.role === 'coordinator'
      ? (node.core as CoordinatorSimCore).step({ type: 'message', message })
      : (node.core as ParticipantSimCore).step({ type: 'message', message })
  }

  private sync(id: NodeId): string | undefined {
    if (this.node(id).disk.unsynced === 0) return undefined
    const node = this.writable(id)
    const records = node.disk.sync()
    node.synced()
    const line = `Sync(${id}: ${records.map(describeRecord).join(', ')})`
    this.describing = line
    this.tracker.recordsDurable(id, records)
    if (this.compaction) {
      const ended = new Set(records.filter((record) => record.type === 'end').map((record) => record.txId))
      if (ended.size > 0) node.disk.forget(ended)
    }
    return line
  }

  /** Runs every effect that may run now, node by node (eager mode); returns their lines. */
  private drain(): string[] {
    const lines: string[] = []
    for (const id of this.nodes.keys()) {
      while (this.node(id).releasable !== undefined) {
        const line = this.effect(id, 0)
        if (line === undefined) break
        // A send merging with a copy in flight, or a step with nothing to show, is noise here.
        if (line !== `Run(${id})` && !line.endsWith(MERGED)) lines.push(line)
      }
    }
    return lines
  }

  private effect(id: NodeId, index: number): string | undefined {
    if (this.node(id).releasable === undefined) return undefined
    const node = this.writable(id)
    const ready = node.releasable
    if (ready === undefined) return undefined
    if (ready.messages.length > 0) {
      const [message] = ready.messages.splice(index, 1)
      if (message === undefined) return undefined
      ready.sentSome = true
      return this.send(node, message, ready)
    }
    node.pending.done(ready)
    const parts = [
      ...ready.requests.map((request) => `${request.type} ${request.tx.txId}`),
      ...ready.events
        .filter((event) => event.type === 'decided' || event.type === 'applied')
        .map((event) => `${event.type}:${'decision' in event ? event.decision : ''} ${event.txId}`),
    ]
    const line = `Run(${id}${parts.length > 0 ? `: ${parts.join(', ')}` : ''})`
    this.describing = line
    for (const timer of ready.timers) node.applyTimer(timer, this.now)
    for (const request of ready.requests) {
      node.calls.push({ id: this.nextCallId++, request, failures: 0, dueAt: this.now })
      this.tracker.resourceCall(id, request)
    }
    for (const event of ready.events) {
      this.tracker.event(id, event)
      if (event.type === 'decided' && event.decision === 'abort') {
        if ('reason' in event && event.reason === 'prepare-timeout') this.probe('prepare-timeout')
        if ('from' in event && event.from === id) this.probe('unilateral-abort-when-asked')
      }
    }
    return line
  }

  private send(node: SimNode, message: Message, ready: PendingReady): string {
    const decision = message.type === 'commit' || message.type === 'abort'
    const entry = this.network.send(message, this.now, ready.answers && decision)
    this.lastSent.push(JSON.stringify(message))
    const line = `Send(${describeMessage(message)})${entry === undefined ? MERGED : ''}`
    this.describing = line
    this.tracker.messageSent(node.id, message)
    if (ready.recovery && node.role === 'coordinator' && message.type === 'commit') {
      this.probe('coordinator-resent-commit-after-restart')
    }
    if (ready.answers && decision && node.role === 'participant' && message.to !== this.coordinatorId) {
      this.probe('peer-answered-cooperative-termination')
    }
    // A refusal of a request bound to a life (not of an unbound one, bound to 0) from a later life.
    if (
      message.type === 'vote' &&
      message.refused !== undefined &&
      message.refused > 0 &&
      message.refused < message.inc
    ) {
      this.probe('stale-request-refused')
    }
    return line
  }

  private fire(id: NodeId, txId: TxId, timer: TimerKind, late: boolean): string | undefined {
    const key = `${timer} ${txId}`
    if (!this.accepts(this.node(id)) || this.node(id).timers.has(key) === late) return undefined
    const node = this.writable(id)
    node.timers.delete(key)
    const input = { type: 'timer', txId, timer } as const
    const ready =
      node.role === 'coordinator'
        ? (node.core as CoordinatorSimCore).step(input)
        : (node.core as ParticipantSimCore).step(input)
    node.enqueue(ready, { answers: false, recovery: false })
    return `Fire(${id} ${timer} ${txId}${late ? ', late' : ''})`
  }

  private cancel(txId: TxId): string | undefined {
    const coordinator = this.node(this.coordinatorId)
    if (!this.accepts(coordinator) || !this.tracker.txIds.includes(txId)) return undefined
    const node = this.writable(this.coordinatorId)
    const core = node.core as CoordinatorSimCore
    node.enqueue(core.step({ type: 'cancel', txId }), { answers: false, recovery: false })
    return `Cancel(${txId})`
  }

  /** `resolveManually`: possible only while the participant is in doubt (the core throws otherwise, changing nothing). */
  private resolve(id: NodeId, txId: TxId, decision: Decision): string | undefined {
    const current = this.node(id)
    if (current.role !== 'participant' || !this.accepts(current)) return undefined
    const node = this.writable(id)
    let ready: Ready<SimEvent>
    try {
      const input = { type: 'resolve-manually', txId, decision, reason: 'by hand' } as const
      ready = (node.core as ParticipantSimCore).step(input)
    } catch {
      return undefined
    }
    this.tracker.resolvedByHand(id, txId)
    node.enqueue(ready, { answers: false, recovery: false })
    return `Resolve(${id} ${txId} → ${decision})`
  }

  /**
   * Delivers a copy of a message in flight claiming to come from `from`, an outsider of its
   * transaction (any message but `prepare`, which any node may send as a coordinator).
   */
  private forge(key: string, from: NodeId): string | undefined {
    const entry = this.network.find(undefined, key)
    // Any node may coordinate, so a `prepare` from an outsider is not misattributed: it starts a transaction.
    if (entry === undefined || entry.message.type === 'prepare') return undefined
    if (entry.message.from === from || !this.nodes.has(from)) return undefined
    if (!this.outsidersOf(entry.message.txId).includes(from)) return undefined
    const recipient = this.nodes.get(entry.message.to)
    if (recipient === undefined || !this.accepts(recipient)) return undefined
    const node = this.writable(recipient.id)
    const message = { ...entry.message, from }
    node.enqueue(this.stepMessage(node, message), { answers: false, recovery: false })
    return `Forge(${describeMessage(message)})`
  }

  private resource(action: SimAction & { type: 'resource' }): string | undefined {
    const find = (node: SimNode) =>
      node.calls.find(
        (candidate) =>
          candidate.request.tx.txId === action.txId && candidate.request.type === action.operation,
      )
    const current = this.node(action.node)
    if (find(current) === undefined || !this.accepts(current) || current.role !== 'participant')
      return undefined
    if ((action.result.type === 'vote') !== (action.operation === 'prepare')) return undefined
    const node = this.writable(action.node)
    const call = find(node)
    if (call === undefined) return undefined
    const label = `Resource(${action.node} ${action.operation} ${action.txId}`
    const core = node.core as ParticipantSimCore
    switch (action.result.type) {
      case 'failed':
        call.failures += 1
        this.probe('resource-call-retried')
        return `${label} failed, retrying)`
      case 'applied':
        node.calls = node.calls.filter((other) => other !== call)
        node.enqueue(core.step({ type: 'applied', txId: action.txId }), { answers: false, recovery: false })
        return `${label} done)`
      case 'vote': {
        node.calls = node.calls.filter((other) => other !== call)
        const { vote, cause } = action.result
        node.answers.set(action.txId, vote)
        node.enqueue(core.step({ type: 'prepare-result', txId: action.txId, vote }), {
          answers: false,
          recovery: false,
        })
        return `${label} → ${cause === undefined ? vote : `${cause}, so ${vote}`})`
      }
    }
  }

  private crash(id: NodeId, keep: number, torn: boolean): string | undefined {
    const current = this.node(id)
    const unsynced = current.disk.unsynced
    if (!current.up || keep < 0 || keep > unsynced || (torn && keep >= unsynced)) return undefined
    const node = this.writable(id)
    if (unsynced > 0) this.probe('crash-before-sync')
    const head = node.pending.items[0]
    if (head?.sentSome && head.messages.length > 0) this.probe('crash-between-sends')
    const kept = node.crash(keep, torn, this.now)
    // What reached the platter is as durable as a synced record (and compaction runs at restart's load).
    if (kept.length > 0) this.tracker.recordsDurable(id, kept)
    const reset = this.semantics === 'connection' ? this.network.resetConnectionsOf(id) : 0
    const survived =
      unsynced > 0 ? `, kept ${keep} of ${unsynced} unsynced${torn ? ' + a torn record' : ''}` : ''
    return `Crash(${id}${survived}${reset > 0 ? `, ${reset} messages lost with its connections` : ''})`
  }

  private restart(id: NodeId): string | undefined {
    if (this.node(id).up) return undefined
    const node = this.writable(id)
    this.start(node)
    const loaded = node.disk.load()
    if (loaded.truncatedTornRecord) this.probe('torn-tail-truncated')
    const ready = this.recover(node, loaded.records)
    if (
      node.role === 'participant' &&
      ready.messages.some((message) => message.type === 'decision-request')
    ) {
      this.probe('in-doubt-after-restart')
    }
    const reset = this.semantics === 'connection' ? this.network.resetConnectionsOf(id) : 0
    const notes = [
      `${loaded.records.length} records`,
      ...(loaded.truncatedTornRecord ? ['torn tail truncated'] : []),
      ...(reset > 0 ? [`${reset} stale messages lost`] : []),
    ]
    return `Restart(${id}: ${notes.join(', ')})`
  }

  private probe(name: ProbeName): void {
    this.probes.set(name, (this.probes.get(name) ?? 0) + 1)
  }
}

/** A short description of an action, for a line of trace when it broke an invariant. */
export function describeAction(action: SimAction): string {
  switch (action.type) {
    case 'begin':
      return `Begin(${action.txId}: ${action.participants.join(',')})`
    case 'deliver':
      return `Deliver(${describeKey(action.key)})`
    case 'lose':
      return `Lose(${describeKey(action.key)})`
    case 'duplicate':
      return `Duplicate(${describeKey(action.key)})`
    case 'sync':
      return `Sync(${action.node})`
    case 'effect':
      return `Effect(${action.node})`
    case 'fire':
      return `Fire(${action.node} ${action.timer} ${action.txId}${action.late ? ', late' : ''})`
    case 'cancel':
      return `Cancel(${action.txId})`
    case 'resolve':
      return `Resolve(${action.node} ${action.txId} → ${action.decision})`
    case 'forge':
      return `Forge(${describeKey(action.key)} as from ${action.from})`
    case 'resource':
      return `Resource(${action.node} ${action.operation} ${action.txId} → ${action.result.type === 'vote' ? action.result.vote : action.result.type})`
    case 'crash':
      return `Crash(${action.node}, keep ${action.keep}${action.torn ? ', torn' : ''})`
    case 'restart':
      return `Restart(${action.node})`
  }
}
