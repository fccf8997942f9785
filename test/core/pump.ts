/**
 * A tiny synchronous message pump over the pure cores: one coordinator and some participants,
 * a bag of messages in flight, armed timers, pending resource requests and one log per node
 * (with a synced prefix). Tests drive it either in order ({@link Pump.runInOrder}: exact costs)
 * or by a list of random choices ({@link Pump.chaos}: a mini-simulator for property tests).
 *
 * Every step executes one `Ready` the way the runtime does (records, then messages, timers,
 * requests, events) and checks the safety invariants of DESIGN.md §3 right away (S1–S3, S5, S6,
 * and S7 in part: no resource prepare after a vote), so a failure names the first step that broke
 * one.
 */
import type { CoordinatorCore } from '../../src/core/coordinator.js'
import type { Message } from '../../src/core/messages.js'
import type { ParticipantCore } from '../../src/core/participant.js'
import type {
  CoordinatorCoreEvent,
  ParticipantCoreEvent,
  Ready,
  ResourceRequest,
  TimerKind,
} from '../../src/core/ready.js'
import type { LogRecord } from '../../src/core/records.js'
import type { Decision, Json, NodeId, TxId, Vote } from '../../src/core/types.js'
import { C, coordinator, describeMessage, participant } from './helpers.js'

export type AnyReady = Ready<CoordinatorCoreEvent> | Ready<ParticipantCoreEvent>

interface Node {
  readonly id: NodeId
  core: CoordinatorCore | ParticipantCore
  /** Appended records; the first `synced` of them are durable. */
  log: LogRecord[]
  synced: number
  /** Every record key (see {@link recordKey}) that was ever durable on this node, across crashes. */
  readonly everDurable: Set<string>
  /** Armed timers, by `txId/kind`, in arming order. */
  readonly timers: Map<string, { readonly txId: TxId; readonly timer: TimerKind }>
  /** Bumped by each crash, so that resource requests of a previous life are discarded. */
  incarnation: number
}

interface PendingRequest {
  readonly node: NodeId
  readonly incarnation: number
  readonly request: ResourceRequest
}

/** Options of a {@link Pump}. */
export interface PumpOptions {
  /** Participant ids. */
  readonly participants: readonly NodeId[]
  /** What a participant's resource answers to `prepare`; the same answer every time for one (node, tx). */
  readonly vote?: (node: NodeId, txId: TxId) => Vote
  /** Passed to every participant core. */
  readonly cooperativeTerminationAfterMs?: number
  /** On a crash, drop the records of transactions that have a durable `end` (as the runtime's `forget` does). */
  readonly compaction?: boolean
  /**
   * On a crash, lose every message in flight to or from the node, as a connection-oriented
   * transport does (nothing sent to or by an earlier incarnation arrives after the restart).
   * Without it, a message may arrive any time later, even across restarts.
   */
  readonly crashLosesInFlight?: boolean
  /** Rewrites a Ready before it is executed: a deliberately broken core, to show the oracle can fail. */
  readonly tamper?: (node: NodeId, ready: AnyReady) => AnyReady
}

/** One executed Ready, for cost accounting. */
export interface Executed {
  readonly node: NodeId
  readonly ready: AnyReady
}

/** A broken invariant, with the trace that led to it. */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation'
}

const recordKey = (record: LogRecord): string =>
  record.type === 'outcome' ? `outcome:${record.txId}:${record.decision}` : `${record.type}:${record.txId}`

export class Pump {
  readonly nodes = new Map<NodeId, Node>()
  /**
   * The Readys of each node's first start (`recover([])`), in node order: each forces its
   * incarnation record 1. Kept apart from {@link executed} so that costs count transactions only.
   */
  readonly started: Executed[] = []
  /**
   * The Readys of the warm-up transactions ({@link warmUp}), kept apart from {@link executed} like
   * {@link started}: what the first contact between the coordinator and its participants costs.
   */
  readonly warmedUp: Executed[] = []
  /** Every Ready executed after the first start (and after the warm-up, if any), in order. */
  readonly executed: Executed[] = []
  /** Each node's log length after the warm-up (see {@link recordsSinceWarmUp}). */
  private readonly warmUpMarks = new Map<NodeId, number>()
  /** Messages sent and not yet delivered or dropped. */
  readonly inFlight: Message[] = []
  readonly pending: PendingRequest[] = []
  /** A readable trace of what happened, printed with any violation. */
  readonly trace: string[] = []
  /** Decisions seen per transaction: `node:how` → decision. */
  readonly decisions = new Map<TxId, Map<string, Decision>>()
  /** Resource commit/abort requests per `node/txId`. */
  readonly applied = new Map<string, Set<Decision>>()
  /** Votes sent per `node/txId` (from `voted` events). */
  readonly votes = new Map<string, Set<Vote>>()
  /** Participants of each transaction begun. */
  readonly transactions = new Map<TxId, readonly NodeId[]>()
  private readonly vote: (node: NodeId, txId: TxId) => Vote

  constructor(private readonly options: PumpOptions) {
    this.vote = options.vote ?? (() => 'yes')
    this.nodes.set(C, this.fresh(C))
    for (const id of options.participants) this.nodes.set(id, this.fresh(id))
    // Every node starts the way the runtime starts it: by recovering from its (empty) log. It
    // forces its incarnation record 1 then (a participant's messages carry it as `inc`, the
    // coordinator's requests as `epoch`), so that a later restart knows it is one.
    for (const node of this.nodes.values()) {
      this.trace.push(`start ${node.id}`)
      this.execute(node.id, node.core.recover([]))
    }
    this.started.push(...this.executed.splice(0))
  }

  private fresh(id: NodeId): Node {
    return {
      id,
      core: this.makeCore(id),
      log: [],
      synced: 0,
      everDurable: new Set(),
      timers: new Map(),
      incarnation: 0,
    }
  }

  private makeCore(id: NodeId): CoordinatorCore | ParticipantCore {
    if (id === C) return coordinator()
    const { cooperativeTerminationAfterMs } = this.options
    return participant(
      id,
      cooperativeTerminationAfterMs === undefined ? {} : { cooperativeTerminationAfterMs },
    )
  }

  private node(id: NodeId): Node {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  get coordinator(): CoordinatorCore {
    return this.node(C).core as CoordinatorCore
  }

  participant(id: NodeId): ParticipantCore {
    return this.node(id).core as ParticipantCore
  }

  /** Every message sent so far. */
  get messages(): Message[] {
    return this.executed.flatMap(({ ready }) => [...ready.messages])
  }

  /** How many executed Readys had to be durable before their messages left. */
  get forcedReadys(): number {
    return this.executed.filter(({ ready }) => ready.forceRecords).length
  }

  /** Every record a node appended (its log, including an unsynced tail). */
  records(id: NodeId): LogRecord[] {
    return [...this.node(id).log]
  }

  /** The records a node appended after the warm-up ({@link warmUp}). */
  recordsSinceWarmUp(id: NodeId): LogRecord[] {
    return this.records(id).slice(this.warmUpMarks.get(id) ?? 0)
  }

  /**
   * Runs transaction `txId` over `participants` (default: all) to quiescence in order, then sets
   * its Readys apart in {@link warmedUp}: the first contact, in which the coordinator learns each
   * participant's incarnation (its probes are refused, and it asks again bound to it). What is
   * executed next costs what a transaction costs once the incarnations are known.
   */
  warmUp(txId: TxId, participants: readonly NodeId[] = this.options.participants): void {
    this.begin(txId, participants)
    this.runInOrder()
    this.warmedUp.push(...this.executed.splice(0))
    for (const node of this.nodes.values()) this.warmUpMarks.set(node.id, node.log.length)
  }

  /**
   * First contact, step by step: delivers every probe in flight (a request bound to no incarnation
   * yet, which every participant refuses), then the refusals they drew, so that the coordinator
   * asks again bound to each participant's incarnation.
   */
  answerProbes(): void {
    const probes = this.inFlight.filter((message) => describeMessage(message).includes('probe'))
    for (const probe of probes)
      this.deliver(this.inFlight.splice(this.inFlight.indexOf(probe), 1)[0] as Message)
    const refusals = this.inFlight.filter((message) => message.type === 'vote' && message.refused === 0)
    for (const refusal of refusals)
      this.deliver(this.inFlight.splice(this.inFlight.indexOf(refusal), 1)[0] as Message)
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  begin(txId: TxId, participants: readonly NodeId[], payload: (id: NodeId) => Json = (id) => ({ id })): void {
    this.transactions.set(txId, participants)
    this.trace.push(`begin ${txId} [${participants.join(', ')}]`)
    const ready = this.coordinator.step({
      type: 'begin',
      txId,
      participants: new Map(participants.map((id) => [id, payload(id)])),
    })
    this.execute(C, ready)
  }

  cancel(txId: TxId): void {
    this.trace.push(`cancel ${txId}`)
    this.execute(C, this.coordinator.step({ type: 'cancel', txId }))
  }

  /** Delivers `message` to the node it is addressed to (if that node exists). */
  deliver(message: Message): void {
    this.trace.push(`deliver ${describeMessage(message)} ${message.txId}`)
    const node = this.nodes.get(message.to)
    if (node === undefined) return
    const input = { type: 'message', message } as const
    this.execute(
      node.id,
      node.id === C ? this.coordinator.step(input) : this.participant(node.id).step(input),
    )
  }

  /** Removes and returns the first message in flight described as `description` (see `describeMessage`). */
  take(description: string): Message {
    const index = this.inFlight.findIndex((message) => describeMessage(message) === description)
    const message = this.inFlight[index]
    if (message === undefined)
      throw new Error(
        `no message "${description}" in flight: ${this.inFlight.map(describeMessage).join(', ')}`,
      )
    this.inFlight.splice(index, 1)
    return message
  }

  /** Delivers the first message in flight described as `description`. */
  deliverOne(description: string): void {
    this.deliver(this.take(description))
  }

  /** Loses the first message in flight described as `description`. */
  lose(description: string): void {
    this.take(description)
    this.trace.push(`lose ${description}`)
  }

  /** Completes every pending resource request of `id`, oldest first. */
  completeAll(id: NodeId): void {
    for (const request of this.pending.filter((pending) => pending.node === id)) {
      this.pending.splice(this.pending.indexOf(request), 1)
      this.complete(request)
    }
  }

  fire(id: NodeId, txId: TxId, timer: TimerKind): void {
    const node = this.node(id)
    node.timers.delete(`${txId}/${timer}`)
    this.trace.push(`timer ${id} ${txId} ${timer}`)
    const input = { type: 'timer', txId, timer } as const
    this.execute(id, id === C ? this.coordinator.step(input) : this.participant(id).step(input))
  }

  complete(pending: PendingRequest): void {
    const { node: id, request } = pending
    if (this.node(id).incarnation !== pending.incarnation) return
    const txId = request.tx.txId
    if (request.type === 'prepare') {
      const vote = this.vote(id, txId)
      this.trace.push(`resource ${id} prepared ${txId}: ${vote}`)
      this.execute(id, this.participant(id).step({ type: 'prepare-result', txId, vote }))
    } else {
      this.trace.push(`resource ${id} applied ${request.type} ${txId}`)
      this.execute(id, this.participant(id).step({ type: 'applied', txId }))
    }
  }

  /** Makes a node's whole log durable (a background sync). */
  flush(id: NodeId): void {
    const node = this.node(id)
    this.trace.push(`flush ${id}`)
    this.sync(node)
  }

  /**
   * Crashes a node and restarts it: the unsynced tail of its log is lost, its timers and resource
   * requests vanish, and a fresh core recovers from what is left (compacted if so configured).
   */
  crash(id: NodeId): void {
    const node = this.node(id)
    let log = node.log.slice(0, node.synced)
    if (this.options.compaction) {
      const ended = new Set(log.filter((record) => record.type === 'end').map((record) => record.txId))
      log = log.filter((record) => !ended.has(record.txId))
    }
    this.trace.push(`crash ${id} (log after restart: ${log.map(recordKey).join(', ') || 'empty'})`)
    node.log = log
    node.synced = log.length
    node.timers.clear()
    node.incarnation += 1
    for (let i = this.pending.length - 1; i >= 0; i--)
      if (this.pending[i]?.node === id) this.pending.splice(i, 1)
    if (this.options.crashLosesInFlight) {
      for (let i = this.inFlight.length - 1; i >= 0; i--) {
        const message = this.inFlight[i]
        if (message?.to === id || message?.from === id) this.inFlight.splice(i, 1)
      }
    }
    node.core = this.makeCore(id)
    this.execute(id, node.core.recover(log))
  }

  // -------------------------------------------------------------------------------------------
  // Executing a Ready, and the safety oracle

  private sync(node: Node): void {
    node.synced = node.log.length
    for (const record of node.log) node.everDurable.add(recordKey(record))
  }

  private execute(id: NodeId, original: AnyReady): void {
    const node = this.node(id)
    const ready = this.options.tamper ? this.options.tamper(id, original) : original
    this.executed.push({ node: id, ready })
    // 1. records, durable first if forced
    node.log.push(...ready.records)
    if (ready.forceRecords) this.sync(node)
    // 2. messages: S2, persist before send
    for (const message of ready.messages) {
      this.checkPersistBeforeSend(node, message)
      this.inFlight.push(message)
    }
    // 3. timers
    for (const timer of ready.timers) {
      const key = `${timer.txId}/${timer.timer}`
      node.timers.delete(key)
      if (timer.type === 'set-timer') node.timers.set(key, { txId: timer.txId, timer: timer.timer })
    }
    // 4. resource requests
    for (const request of ready.requests) {
      this.pending.push({ node: id, incarnation: node.incarnation, request })
      // S7 (prepare once, in part): never a resource prepare after a vote on the transaction, in any
      // life. A stale or duplicated prepare must be answered or refused, never prepared again.
      if (request.type === 'prepare' && (this.votes.get(`${id}/${request.tx.txId}`)?.size ?? 0) > 0)
        this.fail(`S7: resource of ${id} was asked to prepare ${request.tx.txId} again after a vote on it`)
      if (request.type !== 'prepare') {
        // Read-only voters are exempt, as for `decided` below: their resource has nothing to undo.
        if (!this.votes.get(`${id}/${request.tx.txId}`)?.has('read-only'))
          this.observe(request.tx.txId, `${id}:resource`, request.type)
        const key = `${id}/${request.tx.txId}`
        const set = this.applied.get(key) ?? new Set()
        set.add(request.type)
        this.applied.set(key, set)
        // S6: never both commit and abort for one transaction on one resource.
        if (set.size > 1)
          this.fail(`S6: resource of ${id} was asked to commit and to abort ${request.tx.txId}`)
      }
    }
    // 5. events
    for (const event of ready.events) {
      if (event.type === 'decided') {
        if (id === C) {
          this.observe(event.txId, `${id}:decided`, event.decision)
          // S3: commit only if every participant voted yes or read-only.
          if (event.decision === 'commit') {
            for (const p of this.transactions.get(event.txId) ?? []) {
              const votes = this.votes.get(`${p}/${event.txId}`) ?? new Set()
              if (!votes.has('yes') && !votes.has('read-only'))
                this.fail(`S3: ${event.txId} committed without a yes or read-only vote from ${p}`)
            }
          }
        } else {
          const from = (event as { from: NodeId }).from
          this.observe(event.txId, `${id}:decided`, event.decision)
          // S5: no unilateral abort after a yes vote.
          if (event.decision === 'abort' && from === id && this.votes.get(`${id}/${event.txId}`)?.has('yes'))
            this.fail(`S5: ${id} aborted ${event.txId} on its own after voting yes`)
        }
      } else if (event.type === 'voted') {
        const key = `${id}/${event.txId}`
        const set = this.votes.get(key) ?? new Set()
        set.add(event.vote)
        this.votes.set(key, set)
      }
    }
  }

  private checkPersistBeforeSend(node: Node, message: Message): void {
    const durable = (key: string) => node.everDurable.has(key)
    const { txId } = message
    if (message.type === 'vote' && message.vote === 'yes' && !durable(`prepared:${txId}`))
      this.fail(`S2: ${node.id} sent vote yes for ${txId} before its prepared record was durable`)
    if (message.type === 'ack' && !durable(`outcome:${txId}:commit`))
      this.fail(`S2: ${node.id} sent ack for ${txId} before its commit outcome was durable`)
    if (message.type === 'commit') {
      if (node.id !== C) {
        if (!durable(`outcome:${txId}:commit`))
          this.fail(`S2: ${node.id} sent commit for ${txId} before outcome:${txId}:commit was durable`)
      } else if (!durable(`commit:${txId}`)) {
        // A one-phase coordinator writes no commit record: its `commit` only confirms the outcome its
        // single participant forced before voting yes. That forced record is the durable decision.
        const participants = this.transactions.get(txId) ?? []
        const onlyParticipant = participants.length === 1 ? participants[0] : undefined
        if (onlyParticipant === undefined || onlyParticipant !== message.to)
          this.fail(`S2: ${node.id} sent commit for ${txId} before commit:${txId} was durable`)
        else if (!this.node(onlyParticipant).everDurable.has(`outcome:${txId}:commit`))
          this.fail(
            `S2: ${node.id} confirmed the one-phase commit of ${txId} before outcome:${txId}:commit was durable on ${onlyParticipant}`,
          )
      }
    }
  }

  /** S1: every decision anyone holds for a transaction is the same. */
  private observe(txId: TxId, who: string, decision: Decision): void {
    const seen = this.decisions.get(txId) ?? new Map<string, Decision>()
    seen.set(who, decision)
    this.decisions.set(txId, seen)
    const distinct = new Set(seen.values())
    if (distinct.size > 1) {
      const holders = [...seen].map(([node, d]) => `${node}=${d}`).join(', ')
      this.fail(`S1: nodes disagree on ${txId}: ${holders}`)
    }
  }

  private fail(what: string): never {
    throw new InvariantViolation(`${what}\ntrace:\n  ${this.trace.join('\n  ')}`)
  }

  // -------------------------------------------------------------------------------------------
  // Schedules

  /**
   * Runs to quiescence in FIFO order: every message is delivered once, and every resource
   * request completes as soon as it is made (depth first, before the next message). Timers never
   * fire. This is the fault-free run the exact-cost tests count.
   */
  runInOrder(maxSteps = 10_000): void {
    for (let step = 0; step < maxSteps; step++) {
      const request = this.pending.shift()
      if (request !== undefined) {
        this.complete(request)
        continue
      }
      const message = this.inFlight.shift()
      if (message === undefined) return
      this.deliver(message)
    }
    throw new Error(`no quiescence after ${maxSteps} steps`)
  }

  /**
   * Performs one step chosen by `choice` (what to do) and `pick` (to which message, timer, node…):
   * deliver, duplicate or drop a message, complete a resource request, fire a timer, cancel, flush
   * or crash a node. Steps that are impossible right now fall through to the next kind.
   */
  chaosStep(choice: number, pick: number, allowCrash: boolean): void {
    const kinds = ['deliver', 'duplicate', 'drop', 'request', 'timer', 'flush', 'crash', 'cancel'] as const
    const weights = [40, 6, 10, 18, 16, 5, allowCrash ? 3 : 0, 2]
    const total = weights.reduce((a, b) => a + b, 0)
    let roll = choice % total
    let kind = 0
    while (roll >= (weights[kind] ?? 0)) roll -= weights[kind++] ?? 0
    for (let attempt = 0; attempt < kinds.length; attempt++) {
      if (this.tryStep(kinds[(kind + attempt) % kinds.length] ?? 'deliver', pick, allowCrash)) return
    }
  }

  private tryStep(kind: string, pick: number, allowCrash: boolean): boolean {
    const ids = [...this.nodes.keys()]
    switch (kind) {
      case 'deliver':
      case 'duplicate':
      case 'drop': {
        if (this.inFlight.length === 0) return false
        const index = pick % this.inFlight.length
        const message = this.inFlight[index] as Message
        if (kind !== 'duplicate') this.inFlight.splice(index, 1)
        if (kind === 'drop') this.trace.push(`lose ${describeMessage(message)} ${message.txId}`)
        else this.deliver(message)
        return true
      }
      case 'request': {
        if (this.pending.length === 0) return false
        const [request] = this.pending.splice(pick % this.pending.length, 1)
        if (request !== undefined) this.complete(request)
        return true
      }
      case 'timer': {
        const armed = ids.flatMap((id) => [...this.node(id).timers.values()].map((t) => ({ id, ...t })))
        if (armed.length === 0) return false
        const timer = armed[pick % armed.length]
        if (timer !== undefined) this.fire(timer.id, timer.txId, timer.timer)
        return true
      }
      case 'flush':
        this.flush(ids[pick % ids.length] ?? C)
        return true
      case 'crash':
        if (!allowCrash) return false
        this.crash(ids[pick % ids.length] ?? C)
        return true
      case 'cancel': {
        const txIds = [...this.transactions.keys()]
        if (txIds.length === 0) return false
        this.cancel(txIds[pick % txIds.length] ?? '')
        return true
      }
      default:
        return false
    }
  }

  /**
   * Liveness phase: no more faults. Delivers every message, completes every request and fires
   * timers (oldest first) until nothing is left; fails if that takes more than `maxSteps`.
   */
  heal(maxSteps = 20_000): void {
    for (let step = 0; step < maxSteps; step++) {
      const message = this.inFlight.shift()
      if (message !== undefined) {
        this.deliver(message)
        continue
      }
      const request = this.pending.shift()
      if (request !== undefined) {
        this.complete(request)
        continue
      }
      const armed = [...this.nodes.values()].flatMap((node) =>
        [...node.timers.values()].map((timer) => ({ id: node.id, ...timer })),
      )
      const timer = armed[0]
      if (timer === undefined) return
      this.fire(timer.id, timer.txId, timer.timer)
    }
    throw new InvariantViolation(
      `L1: no quiescence after ${maxSteps} steps\ntrace:\n  ${this.trace.slice(-60).join('\n  ')}`,
    )
  }
}
