import { backoffDelayMs } from './backoff.js'
import { BoundedMap } from './bounded-map.js'
import { TwopcError, unreachable } from './errors.js'
import { assertLogOwner, startLife } from './log-owner.js'
import type { Message, PrepareMessage, VoteMessage } from './messages.js'
import { PROTOCOL_VERSION } from './messages.js'
import {
  type CommonCoreOptions,
  positiveDuration,
  type ResolvedCommonOptions,
  validateCommonOptions,
} from './options.js'
import { frozenPayloads, isDeepFrozen } from './payload.js'
import {
  type CoordinatorCoreEvent,
  type DropReason,
  type Ready,
  ReadyBuilder,
  type TimerKind,
} from './ready.js'
import type { LogRecord } from './records.js'
import type { AbortReason, Decision, Json, NodeId, TxId, Vote } from './types.js'
import { isId, requireRecordList, requireTxId, unknownInput } from './validate.js'

/** Options of a {@link CoordinatorCore}. */
export interface CoordinatorCoreOptions extends CommonCoreOptions {
  /**
   * How long to wait for every vote before deciding abort (`reason: 'prepare-timeout'`).
   * @default 5000
   */
  readonly prepareTimeoutMs?: number
}

/** Inputs a coordinator core accepts. */
export type CoordinatorInput =
  /** Start a transaction. `participants` maps each participant to its share of the work. */
  | { readonly type: 'begin'; readonly txId: TxId; readonly participants: ReadonlyMap<NodeId, Json> }
  /** A validated inbound message. */
  | { readonly type: 'message'; readonly message: Message }
  /** A timer armed by an earlier `Ready` fired. */
  | { readonly type: 'timer'; readonly txId: TxId; readonly timer: TimerKind }
  /** The caller gave up: abort the transaction if it is not decided yet. */
  | { readonly type: 'cancel'; readonly txId: TxId }

/** What a coordinator knows about one transaction, for `status(txId)`. */
export type CoordinatorTxStatus =
  /** Waiting for votes. */
  | { readonly state: 'preparing'; readonly votes: Readonly<Record<NodeId, Vote | 'pending'>> }
  /** Decided commit; waiting for the acks listed. */
  | { readonly state: 'committing'; readonly pendingAcks: readonly NodeId[] }
  /** Finished recently, with this outcome. */
  | {
      readonly state: 'finished'
      readonly decision: Decision
      /** Participants that reported an outcome taken by hand that contradicts `decision`. */
      readonly heuristicMismatches?: readonly NodeId[]
    }
  /** Not in flight and not remembered: under presumed abort, it did not commit unless it finished long ago. */
  | { readonly state: 'unknown' }

/** One participant of a two-phase transaction being prepared. */
interface Slot {
  /** The incarnation its `prepare` is bound to (0: not known yet, see `PrepareTicket`). */
  expected: number
  /** Its vote, once it came. */
  vote: Vote | undefined
}

/** What every phase of a transaction in flight keeps: all its participants (frozen). */
interface InFlight {
  readonly participants: readonly NodeId[]
}

type TxState = InFlight &
  (
    | {
        phase: 'preparing'
        readonly payloads: ReadonlyMap<NodeId, Json>
        /** Each participant's binding and vote (one map, not two: it is kept per transaction in flight). */
        readonly slots: Map<NodeId, Slot>
        /** How many votes came. */
        voted: number
        readonly seq: number
        attempt: number
      }
    | {
        /** One participant: it decides, and its vote is the outcome (one-phase commit). */
        phase: 'one-phase'
        readonly participant: NodeId
        readonly payload: Json
        /** The incarnation its requests are bound to (0: not known yet). */
        expected: number
        readonly seq: number
        /** Set once the coordinator asked the participant to abort (timeout or cancel). */
        abortReason: AbortReason | undefined
        attempt: number
      }
    | { phase: 'committing'; readonly pendingAcks: Set<NodeId>; attempt: number }
  )

type OnePhaseTx = Extract<TxState, { phase: 'one-phase' }>

type Builder = ReadyBuilder<CoordinatorCoreEvent>

/** Most participants whose incarnation a coordinator remembers (a limit on everything). */
const MAX_KNOWN_PARTICIPANTS = 100_000

/**
 * The coordinator's side of presumed-abort two-phase commit, as a pure state machine:
 * `step(input)` returns a {@link Ready} and never awaits, reads a clock or draws randomness
 * except through the injected `random`.
 *
 * Durability (DESIGN.md): the `commit` record is forced before any `commit` message; the `end`
 * record is lazy; aborts write nothing (presumed abort, Mohan, Lindsay & Obermarck 1986).
 *
 * Called by the `Coordinator` runtime, the simulator and the model checker; bring your own loop
 * with it by executing each `Ready` in its documented order.
 */
export class CoordinatorCore {
  private readonly options: ResolvedCommonOptions
  private readonly prepareTimeoutMs: number
  private readonly transactions = new Map<TxId, TxState>()
  private readonly finished: BoundedMap<TxId, Decision>
  private readonly mismatches: BoundedMap<TxId, NodeId[]>
  /** The latest incarnation heard from each participant (`inc` on its messages). */
  private readonly incarnations = new BoundedMap<NodeId, number>(MAX_KNOWN_PARTICIPANTS)
  /** This coordinator's incarnation, the `epoch` of its requests; 0 until `recover`. */
  private epoch = 0
  /** The last `seq` given to a transaction in this epoch. */
  private seq = 0
  private recovered = false

  /** @throws TwopcError `INVALID_OPTIONS` naming the option at fault. */
  constructor(options: CoordinatorCoreOptions) {
    this.options = validateCommonOptions(options)
    this.prepareTimeoutMs = positiveDuration('prepareTimeoutMs', options.prepareTimeoutMs, 5000)
    this.finished = new BoundedMap(this.options.rememberedTransactions)
    this.mismatches = new BoundedMap(this.options.rememberedTransactions)
  }

  /** This node's id. */
  get id(): NodeId {
    return this.options.id
  }

  /** The options in force (defaults applied). */
  get settings(): ResolvedCommonOptions {
    return this.options
  }

  /** `prepareTimeoutMs` in force. */
  get prepareTimeout(): number {
    return this.prepareTimeoutMs
  }

  /** Transactions begun and not yet completed. */
  get inFlight(): number {
    return this.transactions.size
  }

  /**
   * Rebuilds state from the records of this coordinator's log, once, before any `step`.
   * Presumed abort: a transaction without a `commit` record is aborted; one with `commit` and no
   * `end` resumes sending `commit` until every participant acks.
   */
  recover(records: readonly LogRecord[]): Ready<CoordinatorCoreEvent> {
    requireRecordList(records)
    if (this.recovered) {
      throw new TwopcError('INVALID_REQUEST', 'recover() must be called once, before any step()')
    }
    this.recovered = true
    assertLogOwner(records, this.id, 'coordinator')
    const committing = new Map<TxId, readonly NodeId[]>()
    let lastEpoch = 0
    for (const record of records) {
      if (record.type === 'commit') committing.set(record.txId, record.participants)
      else if (record.type === 'incarnation') lastEpoch = Math.max(lastEpoch, record.n)
      else if (record.type === 'end' && committing.delete(record.txId))
        this.finished.insert(record.txId, 'commit')
    }
    const ready: Builder = new ReadyBuilder()
    // A new epoch, durable before any request carries it: participants order this coordinator's
    // transactions by (epoch, seq), and seq starts again at each start.
    this.epoch = startLife(ready, this.id, 'coordinator', lastEpoch)
    for (const [txId, participants] of committing) {
      this.transactions.set(txId, {
        phase: 'committing',
        participants,
        pendingAcks: new Set(participants),
        attempt: 0,
      })
      for (const to of participants) ready.send(this.message('commit', txId, to))
      this.armRetransmit(ready, txId, 0)
    }
    return ready.build()
  }

  /**
   * Advances the state machine by one input.
   * @throws TwopcError for caller bugs only: `DUPLICATE_TRANSACTION`, `TOO_MANY_TRANSACTIONS`,
   * `INVALID_REQUEST` (from `begin`). Anything the network causes is dropped with a reason.
   */
  step(input: CoordinatorInput): Ready<CoordinatorCoreEvent> {
    if (!this.recovered) {
      throw new TwopcError('INVALID_REQUEST', 'recover() must be called once, before any step()')
    }
    if (typeof input !== 'object' || input === null) unknownInput(input, INPUT_TYPES)
    const ready: Builder = new ReadyBuilder()
    switch (input.type) {
      case 'begin':
        this.begin(ready, input.txId, input.participants)
        break
      case 'message':
        this.receive(ready, input.message)
        break
      case 'timer':
        this.timer(ready, input.txId, input.timer)
        break
      case 'cancel':
        this.cancel(ready, input.txId)
        break
      default:
        unknownInput(input, INPUT_TYPES)
    }
    return ready.build()
  }

  /**
   * Transactions begun (or resumed by `recover`) and not finished, oldest first; read-only, for
   * listing them (`Coordinator.pending()`). Look each up with {@link status}.
   */
  unfinished(): TxId[] {
    return [...this.transactions.keys()]
  }

  /** The `state` that {@link status} reports for `txId`, without building the rest of the status. */
  stateOf(txId: TxId): CoordinatorTxStatus['state'] {
    const tx = this.transactions.get(txId)
    if (tx === undefined) return this.finished.get(txId) === undefined ? 'unknown' : 'finished'
    return tx.phase === 'committing' ? 'committing' : 'preparing'
  }

  /** What this coordinator knows about `txId`. */
  status(txId: TxId): CoordinatorTxStatus {
    const tx = this.transactions.get(txId)
    if (tx === undefined) {
      const decision = this.finished.get(txId)
      if (decision === undefined) return { state: 'unknown' }
      const heuristicMismatches = this.mismatches.get(txId)
      return heuristicMismatches
        ? { state: 'finished', decision, heuristicMismatches }
        : { state: 'finished', decision }
    }
    switch (tx.phase) {
      case 'preparing': {
        const votes: Record<NodeId, Vote | 'pending'> = {}
        for (const [id, slot] of tx.slots) votes[id] = slot.vote ?? 'pending'
        return { state: 'preparing', votes }
      }
      case 'one-phase':
        return { state: 'preparing', votes: { [tx.participant]: 'pending' } }
      case 'committing':
        return { state: 'committing', pendingAcks: [...tx.pendingAcks] }
      default:
        return unreachable(tx)
    }
  }

  /**
   * Throws what `begin` would throw for this request, except `TOO_MANY_TRANSACTIONS`: a caller that
   * must wait for room (admission control) learns of a bad request before it waits.
   * @throws TwopcError `INVALID_REQUEST`, `DUPLICATE_TRANSACTION`
   */
  checkBegin(txId: TxId, participants: ReadonlyMap<NodeId, Json>): void {
    requireTxId(txId)
    if (this.transactions.has(txId) || this.finished.get(txId) !== undefined) {
      throw new TwopcError(
        'DUPLICATE_TRANSACTION',
        `Transaction ${txId} was already begun by this coordinator`,
      )
    }
    if (participants.size === 0) {
      throw new TwopcError(
        'INVALID_REQUEST',
        'Expected `participants` to name at least one participant, got none',
      )
    }
    for (const id of participants.keys()) {
      if (!isId(id) || id === this.id) {
        throw new TwopcError(
          'INVALID_REQUEST',
          `Expected every participant to be a node id other than the coordinator's (${this.id}), got ${JSON.stringify(id)}`,
        )
      }
    }
  }

  /** `given` through the payload rule, in the order given (integer-like ids stay where they were). */
  private checkedPayloads(txId: TxId, given: ReadonlyMap<NodeId, Json>): ReadonlyMap<NodeId, Json> {
    const checked = frozenPayloads(Object.fromEntries(given), { txId, coordinator: this.id })
    return new Map([...given.keys()].map((id) => [id, checked.get(id) as Json]))
  }

  private begin(ready: Builder, txId: TxId, given: ReadonlyMap<NodeId, Json>): void {
    this.checkBegin(txId, given)
    // The payload rule, for a caller driving the core from its own loop (found by review: a BigInt
    // or NaN made prepares its own parseMessage refused). Coordinator.commit() has applied it
    // already: payloads it deep-froze, and plain scalars, are not walked again.
    const participants = [...given.values()].every(vouched) ? given : this.checkedPayloads(txId, given)
    if (this.transactions.size >= this.options.maxInFlightTransactions) {
      throw new TwopcError(
        'TOO_MANY_TRANSACTIONS',
        `Coordinator ${this.id} already has ${this.transactions.size} transactions in flight (maxInFlightTransactions); retry after some complete`,
      )
    }
    const ids = Object.freeze([...participants.keys()])
    this.seq += 1
    const seq = this.seq
    const [only] = ids
    if (ids.length === 1 && only !== undefined) {
      const tx: OnePhaseTx = {
        phase: 'one-phase',
        participants: ids,
        participant: only,
        payload: participants.get(only) as Json,
        expected: this.incarnations.get(only) ?? 0,
        seq,
        abortReason: undefined,
        attempt: 0,
      }
      this.transactions.set(txId, tx)
      ready.send(this.onePhaseRequest(txId, tx))
    } else {
      const slots = new Map<NodeId, Slot>()
      for (const id of ids) slots.set(id, { expected: this.incarnations.get(id) ?? 0, vote: undefined })
      this.transactions.set(txId, {
        phase: 'preparing',
        participants: ids,
        payloads: participants,
        slots,
        voted: 0,
        seq,
        attempt: 0,
      })
      for (const id of ids) ready.send(this.prepareFor(txId, id))
    }
    ready.setTimer(txId, 'prepare-timeout', this.prepareTimeoutMs)
    this.armRetransmit(ready, txId, 0)
  }

  private receive(ready: Builder, message: Message): void {
    if (message.to !== this.id) return this.drop(ready, message, 'misrouted')
    if (message.type === 'vote' || message.type === 'ack' || message.type === 'decision-request')
      this.learn(message.txId, message.from, message.inc)
    switch (message.type) {
      case 'vote':
        return this.onVote(ready, message)
      case 'ack':
        if (message.heuristic !== undefined)
          this.onHeuristic(ready, message.txId, message.from, message.heuristic)
        return this.onAck(ready, message.txId, message.from, message)
      case 'decision-request':
        return this.onDecisionRequest(ready, message.txId, message.from, message)
      case 'prepare':
      case 'commit':
      case 'abort':
        return this.drop(ready, message, 'unexpected')
      default:
        return unreachable(message)
    }
  }

  private onVote(ready: Builder, message: VoteMessage): void {
    const { txId, from, vote } = message
    const tx = this.transactions.get(txId)
    if (tx === undefined) {
      // A one-phase vote is the participant's outcome: confirm it even when finished or forgotten
      // (after a restart), so that the participant may forget it too.
      if (message.onePhase && vote !== 'read-only') {
        const known = this.finished.get(txId)
        // A vote that contradicts a decision still remembered is stale (or forged): never confirm it.
        if (known !== undefined && known !== (vote === 'yes' ? 'commit' : 'abort')) {
          return this.drop(ready, message, 'conflicts-with-outcome')
        }
        return this.confirmOnePhase(ready, txId, from, vote)
      }
      // Any other vote for a transaction no longer in flight needs no answer: a participant that
      // voted yes asks with `decision-request` and learns the outcome (or presumed abort) there.
      return this.drop(ready, message, this.finished.get(txId) ? 'duplicate' : 'unknown-transaction')
    }
    if (!tx.participants.includes(from)) return this.drop(ready, message, 'not-a-participant')
    if (tx.phase !== 'committing') {
      const expected = tx.phase === 'preparing' ? (tx.slots.get(from)?.expected ?? 0) : tx.expected
      if (message.refused !== undefined)
        return this.onRefusal(ready, txId, tx, from, expected, message.refused, message)
      // From a life before the one this transaction is bound to: not an answer to our request.
      if (message.inc < expected) return this.drop(ready, message, 'stale')
    }
    switch (tx.phase) {
      case 'preparing': {
        const slot = tx.slots.get(from) as Slot
        if (slot.vote !== undefined) return this.drop(ready, message, 'duplicate')
        slot.vote = vote
        tx.voted += 1
        if (vote === 'no') return this.decideAbort(ready, txId, 'vote-no')
        if (tx.voted === tx.slots.size) return this.decideCommit(ready, txId, yesVoters(tx.slots))
        return
      }
      case 'one-phase':
        // Once the participant was asked to abort, a read-only vote may be stale: sent by an
        // earlier life of it that forgot the vote (read-only leaves no record) and has since taken
        // the abort request (S1). The answer to the request decides: it is `yes` only if the
        // participant committed, and `no` otherwise (also from one that voted read-only).
        if (vote === 'read-only' && tx.abortReason !== undefined)
          return this.drop(ready, message, 'unexpected')
        // The single participant decided: `yes`/`read-only` means it committed, `no` that it aborted.
        if (vote !== 'read-only') this.confirmOnePhase(ready, txId, from, vote)
        if (vote === 'no') return this.decideAbort(ready, txId, tx.abortReason ?? 'vote-no')
        return this.decideCommit(ready, txId, [])
      case 'committing':
        return this.drop(ready, message, 'duplicate')
      default:
        return unreachable(tx)
    }
  }

  /**
   * A participant refused to prepare (or, one-phase, to abort): it does not know the transaction
   * and the request was not bound to its life `inc`. If the request was bound to no life yet (this
   * coordinator did not know its incarnation), no life acted on it: ask again, bound to `inc`.
   * Otherwise the life the transaction was bound to is gone (or forgot it): abort.
   */
  private onRefusal(
    ready: Builder,
    txId: TxId,
    tx: Exclude<TxState, { phase: 'committing' }>,
    from: NodeId,
    expected: number,
    refused: number,
    message: VoteMessage,
  ): void {
    // A late copy refusing an earlier request (the one that learned the incarnation): already handled.
    if (refused !== expected) return this.drop(ready, message, 'stale')
    // Only a node whose log was lost or replaced (an earlier life number again) refuses a request
    // bound to a later life than its own. That breaks an assumption of the protocol (README,
    // "Guarantees"); at least bind the next transactions to the life it is, or it would refuse all.
    if (message.inc < expected) this.incarnations.insert(from, message.inc)
    if (tx.phase === 'preparing') {
      const slot = tx.slots.get(from) as Slot
      if (slot.vote !== undefined) return this.drop(ready, message, 'duplicate')
      if (expected === 0) {
        slot.expected = message.inc
        return ready.send(this.prepareFor(txId, from))
      }
      slot.vote = 'no'
      tx.voted += 1
      return this.decideAbort(ready, txId, 'refused')
    }
    if (expected === 0 && tx.abortReason === undefined) {
      tx.expected = message.inc
      return ready.send(this.onePhaseRequest(txId, tx))
    }
    // Bound to no life and asked to abort, or refused by the life it was bound to: nobody prepared it.
    return this.decideAbort(ready, txId, tx.abortReason ?? 'refused')
  }

  private onAck(ready: Builder, txId: TxId, from: NodeId, message: Message): void {
    const tx = this.transactions.get(txId)
    if (tx === undefined)
      return this.drop(ready, message, this.finished.get(txId) ? 'duplicate' : 'unknown-transaction')
    if (tx.phase !== 'committing') return this.drop(ready, message, 'unexpected')
    if (!tx.pendingAcks.delete(from)) {
      return this.drop(ready, message, tx.participants.includes(from) ? 'duplicate' : 'not-a-participant')
    }
    if (tx.pendingAcks.size === 0) {
      ready.persist({ type: 'end', txId }, false)
      this.finish(ready, txId, 'commit')
    }
  }

  /**
   * A participant reports the outcome an operator took by hand (Narayana: a heuristic outcome).
   * If it contradicts the decision, that is reported; the protocol cannot repair it.
   */
  private onHeuristic(ready: Builder, txId: TxId, participant: NodeId, heuristic: Decision): void {
    const tx = this.transactions.get(txId)
    if (tx !== undefined && tx.phase !== 'committing') return
    // Committing: the decision is commit. Otherwise finished, or presumed abort if forgotten.
    const decision = tx !== undefined ? 'commit' : (this.finished.get(txId) ?? 'abort')
    const reported = this.mismatches.get(txId) ?? []
    // The participant resends its heuristic ack with every retransmitted commit: report it once.
    if (decision === heuristic || reported.includes(participant)) return
    this.mismatches.insert(txId, [...reported, participant])
    ready.emit({ type: 'heuristic-mismatch', txId, participant, decision, heuristic })
  }

  private onDecisionRequest(ready: Builder, txId: TxId, from: NodeId, message: Message): void {
    const tx = this.transactions.get(txId)
    if (tx === undefined) {
      // Presumed abort: no record of the transaction means it did not commit (or finished long ago,
      // in which case every participant acked and none can be asking).
      const decision = this.finished.get(txId) ?? 'abort'
      return ready.send(this.message(decision, txId, from))
    }
    if (!tx.participants.includes(from)) return this.drop(ready, message, 'not-a-participant')
    if (tx.phase !== 'committing') return this.drop(ready, message, 'undecided')
    ready.send(this.message('commit', txId, from))
  }

  private timer(ready: Builder, txId: TxId, timer: TimerKind): void {
    const tx = this.transactions.get(txId)
    if (tx === undefined) return
    switch (timer) {
      case 'prepare-timeout':
        return this.abandon(ready, txId, 'prepare-timeout')
      case 'retransmit':
        return this.retransmit(ready, txId, tx)
      case 'decision-request':
        return
      default:
        return unreachable(timer)
    }
  }

  private cancel(ready: Builder, txId: TxId): void {
    if (this.transactions.has(txId)) this.abandon(ready, txId, 'cancelled')
  }

  /** Timeout or cancel: abort if undecided. A one-phase participant decides, so it is asked to abort. */
  private abandon(ready: Builder, txId: TxId, reason: AbortReason): void {
    const tx = this.transactions.get(txId)
    if (tx?.phase === 'preparing') return this.decideAbort(ready, txId, reason)
    if (tx?.phase === 'one-phase' && tx.abortReason === undefined) {
      tx.abortReason = reason
      tx.attempt = 0
      ready.clearTimer(txId, 'prepare-timeout')
      ready.send(this.onePhaseRequest(txId, tx))
      this.armRetransmit(ready, txId, 0)
    }
  }

  private retransmit(ready: Builder, txId: TxId, tx: TxState): void {
    tx.attempt += 1
    switch (tx.phase) {
      case 'preparing':
        for (const [id, slot] of tx.slots) if (slot.vote === undefined) ready.send(this.prepareFor(txId, id))
        break
      case 'one-phase':
        ready.send(this.onePhaseRequest(txId, tx))
        break
      case 'committing':
        for (const id of tx.pendingAcks) ready.send(this.message('commit', txId, id))
        break
      default:
        unreachable(tx)
    }
    this.armRetransmit(ready, txId, tx.attempt)
  }

  /** Decides commit; `owing` are the participants that voted yes (they are owed the decision). */
  private decideCommit(ready: Builder, txId: TxId, owing: NodeId[]): void {
    ready.clearTimer(txId, 'prepare-timeout')
    if (owing.length === 0) {
      // Every participant voted read-only (or the one-phase participant committed): nothing to send.
      ready.emit({ type: 'decided', txId, decision: 'commit' })
      return this.finish(ready, txId, 'commit')
    }
    // Frozen, as every list this core puts in a record or message: nothing changes it afterwards,
    // and the runtime seals only what is frozen (see `sealBuilt`).
    ready.persist({ type: 'commit', txId, participants: Object.freeze(owing) }, true)
    for (const to of owing) ready.send(this.message('commit', txId, to))
    const { participants } = this.transactions.get(txId) as TxState
    this.transactions.set(txId, {
      phase: 'committing',
      participants,
      pendingAcks: new Set(owing),
      attempt: 0,
    })
    this.armRetransmit(ready, txId, 0)
    ready.emit({ type: 'decided', txId, decision: 'commit' })
  }

  private decideAbort(ready: Builder, txId: TxId, reason: AbortReason): void {
    const tx = this.transactions.get(txId)
    if (tx?.phase === 'preparing') {
      // Presumed abort: nothing is logged and no ack is awaited. Participants that voted no or
      // read-only are done already; the others are told once, and ask if the message is lost.
      for (const [id, { vote }] of tx.slots) {
        if (vote !== 'no' && vote !== 'read-only') ready.send(this.message('abort', txId, id))
      }
    }
    ready.clearTimer(txId, 'prepare-timeout')
    ready.emit({ type: 'decided', txId, decision: 'abort', reason })
    this.finish(ready, txId, 'abort')
  }

  private finish(ready: Builder, txId: TxId, decision: Decision): void {
    this.transactions.delete(txId)
    this.finished.insert(txId, decision)
    ready.clearTimer(txId, 'retransmit')
    ready.emit({ type: 'completed', txId, decision })
  }

  private armRetransmit(ready: Builder, txId: TxId, attempt: number): void {
    const { retransmitIntervalMs, retransmitIntervalMsMax, random } = this.options
    ready.setTimer(
      txId,
      'retransmit',
      backoffDelayMs(attempt, retransmitIntervalMs, retransmitIntervalMsMax, random),
    )
  }

  private drop(ready: Builder, message: Message, reason: DropReason): void {
    ready.emit({ type: 'message-dropped', reason, message })
  }

  /** Confirms a one-phase participant's outcome (its vote), so that it may forget the transaction. */
  private confirmOnePhase(ready: Builder, txId: TxId, to: NodeId, vote: 'yes' | 'no'): void {
    ready.send(this.message(vote === 'yes' ? 'commit' : 'abort', txId, to))
  }

  /**
   * What a one-phase coordinator sends its participant: `prepare`, or once it timed out or was
   * cancelled, the request to abort, which the participant answers with its vote (which decides).
   */
  private onePhaseRequest(txId: TxId, tx: OnePhaseTx): Message {
    const { participant: to, expected: inc, seq, payload } = tx
    if (tx.abortReason !== undefined) {
      const ticket = { inc, epoch: this.epoch, seq }
      return { v: PROTOCOL_VERSION, type: 'abort', txId, from: this.id, to, onePhase: true, ticket }
    }
    return this.prepare({ txId, to, payload, participants: Object.freeze([to]), onePhase: true, inc, seq })
  }

  /** The `prepare` of a two-phase transaction for participant `to`, bound to the life expected of it. */
  private prepareFor(txId: TxId, to: NodeId): Message {
    const tx = this.transactions.get(txId) as Extract<TxState, { phase: 'preparing' }>
    return this.prepare({
      txId,
      to,
      payload: tx.payloads.get(to) as Json,
      participants: tx.participants,
      onePhase: false,
      inc: tx.slots.get(to)?.expected ?? 0,
      seq: tx.seq,
    })
  }

  /** A `prepare` in this coordinator's epoch (built as one literal, not by spreading a header). */
  private prepare(
    fields: Pick<PrepareMessage, 'txId' | 'to' | 'payload' | 'participants' | 'onePhase' | 'inc' | 'seq'>,
  ): Message {
    const { txId, to, payload, participants, onePhase, inc, seq } = fields
    const { epoch } = this
    return {
      v: PROTOCOL_VERSION,
      type: 'prepare',
      txId,
      from: this.id,
      to,
      payload,
      participants,
      onePhase,
      inc,
      epoch,
      seq,
    }
  }

  /**
   * Remembers the latest incarnation heard from `participant`, to bind its next transactions to
   * it — only from a participant of a transaction in flight here. Anything else (a node outside
   * the transaction, a transaction no longer known) may be a forged or misattributed copy carrying
   * a life the participant has not reached; binding to it would let a delayed `prepare` be taken by
   * that later life (found by an independent review, with forged senders in the model checker).
   */
  private learn(txId: TxId, participant: NodeId, inc: number): void {
    if (!this.transactions.get(txId)?.participants.includes(participant)) return
    if (inc > (this.incarnations.get(participant) ?? 0)) this.incarnations.insert(participant, inc)
  }

  private message(type: 'commit' | 'abort', txId: TxId, to: NodeId): Message {
    return { v: PROTOCOL_VERSION, type, txId, from: this.id, to }
  }
}

/** The participants that voted yes, in order. */
function yesVoters(slots: ReadonlyMap<NodeId, Slot>): NodeId[] {
  const yes: NodeId[] = []
  for (const [id, { vote }] of slots) if (vote === 'yes') yes.push(id)
  return yes
}

/**
 * Whether a payload needs no walk in `begin`: one `commit()` deep-froze, or a JSON scalar (a string
 * is not measured here: one over the size limit makes a prepare the transport refuses at once).
 */
function vouched(payload: Json): boolean {
  if (payload === null || typeof payload === 'boolean' || typeof payload === 'string') return true
  if (typeof payload === 'number') return Number.isFinite(payload)
  return typeof payload === 'object' && isDeepFrozen(payload)
}

/** The `type`s of the inputs `step` takes. */
const INPUT_TYPES: readonly string[] = ['begin', 'message', 'timer', 'cancel']
