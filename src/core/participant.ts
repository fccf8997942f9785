import { backoffDelayMs } from './backoff.js'
import { BoundedMap } from './bounded-map.js'
import { TwopcError, unreachable } from './errors.js'
import { assertLogOwner, startLife } from './log-owner.js'
import type {
  AckMessage,
  Message,
  MessageType,
  PrepareMessage,
  PrepareTicket,
  VoteMessage,
} from './messages.js'
import { PROTOCOL_VERSION } from './messages.js'
import {
  type CommonCoreOptions,
  positiveDuration,
  type ResolvedCommonOptions,
  validateCommonOptions,
} from './options.js'
import {
  type DropReason,
  type ParticipantCoreEvent,
  type Ready,
  ReadyBuilder,
  type TimerKind,
} from './ready.js'
import type { LogRecord } from './records.js'
import type { Decision, NodeId, TransactionInfo, TxId, Vote } from './types.js'
import { requireRecordList, unknownInput } from './validate.js'

/** Options of a {@link ParticipantCore}. */
export interface ParticipantCoreOptions extends CommonCoreOptions {
  /**
   * How long an in-doubt participant asks only the coordinator before it also asks its peers
   * (cooperative termination). A peer that has not voted yet aborts when asked, so this must
   * exceed the coordinator's `prepareTimeoutMs`: a live coordinator decides within that time,
   * and only a silent one should make peers abort.
   * @default 10000
   */
  readonly cooperativeTerminationAfterMs?: number
}

/** Inputs a participant core accepts. */
export type ParticipantInput =
  /** A validated inbound message. */
  | { readonly type: 'message'; readonly message: Message }
  /** A timer armed by an earlier `Ready` fired. */
  | { readonly type: 'timer'; readonly txId: TxId; readonly timer: TimerKind }
  /** The resource answered a `prepare` request (a throw or a timeout is reported as `no`). */
  | { readonly type: 'prepare-result'; readonly txId: TxId; readonly vote: Vote }
  /** The resource finished a `commit` or `abort` request. */
  | { readonly type: 'applied'; readonly txId: TxId }
  /**
   * An operator resolves an in-doubt transaction by hand (a heuristic decision), because the
   * coordinator is gone for good. Recorded durably with `reason`; the participant keeps asking
   * the coordinator and reports a heuristic mismatch if the real decision differs.
   */
  | {
      readonly type: 'resolve-manually'
      readonly txId: TxId
      readonly decision: Decision
      readonly reason: string
    }

/** A transaction this participant voted yes on and has no outcome for. */
export interface InDoubtTransaction {
  readonly txId: TxId
  readonly coordinator: NodeId
  readonly participants: readonly NodeId[]
}

type TxState =
  | {
      /** The resource is preparing; no vote sent yet. */
      phase: 'preparing'
      readonly info: TransactionInfo
      readonly order: Order
      readonly onePhase: boolean
      /** Set when an abort was recorded durably while preparing: the vote will be `no`, whatever the resource says. */
      abortedBy: NodeId | undefined
    }
  | {
      /** Voted yes, prepared record durable, outcome unknown: in doubt. */
      phase: 'prepared'
      readonly info: TransactionInfo
      /** Where it stands in its coordinator's order; unknown for a transaction recovered from the log. */
      readonly order: Order | undefined
      attempt: number
      /** Sum of the decision-request delays armed so far: how long it has been asking. */
      waitedMs: number
      /** `waitedMs` when it first asked its peers too (cooperative termination); undefined until then. */
      peersAskedAtMs: number | undefined
      /** Whether the `blocked` event was emitted (once per transaction and life). */
      blocked: boolean
    }
  | {
      /** Outcome known; the resource is applying it. */
      phase: 'applying'
      readonly info: TransactionInfo
      readonly order: Order | undefined
      readonly onePhase: boolean
      readonly decision: Decision
      /** Whether this transaction has records in the log (and so needs an `end` record). */
      readonly logged: boolean
      /**
       * An unlogged abort was forced to the log because a peer asked for it (see
       * `onDecisionRequest`): written once, and never ended.
       */
      forced: boolean
      /** The resource finished applying the outcome. */
      applied: boolean
      /**
       * The outcome was taken by hand (`resolveManually`): it is never told to a peer, even once the
       * real decision is known (it may differ from it).
       */
      readonly byHand: boolean
      /**
       * Whether the coordinator confirmed a one-phase outcome (always true for two-phase). Until
       * then the participant resends its vote and keeps its records: forgetting a one-phase
       * outcome the coordinator never received would let a timed-out coordinator's abort request
       * find nothing, and record abort against a resource that committed.
       */
      confirmed: boolean
      attempt: number
      waitedMs: number
    }

type PreparedTx = Extract<TxState, { phase: 'prepared' }>
type ApplyingTx = Extract<TxState, { phase: 'applying' }>

/** A one-phase coordinator's request to abort (it timed out or was cancelled); the participant answers with its vote. */
function isAbortRequest(message: Message): boolean {
  return message.type === 'abort' && message.onePhase === true
}

/** How often and how long a transaction's decision-request timer has run. */
interface Asking {
  attempt: number
  waitedMs: number
}

/** An outcome taken by hand that the real decision has not confirmed yet. */
interface Unconfirmed extends Asking {
  readonly decision: Decision
  readonly info: TransactionInfo
}

/**
 * A transaction's place in its coordinator's order (from its `prepare`): forgetting it raises the
 * low-water mark below which this participant refuses requests for transactions it does not know.
 */
interface Order {
  readonly coordinator: NodeId
  readonly epoch: number
  readonly seq: number
}

/** What a participant remembers of a finished transaction, to answer duplicates and late questions exactly. */
interface Finished {
  readonly outcome: Decision | 'read-only'
  readonly onePhase: boolean
  /** Undefined for a transaction recovered from the log or never prepared here. */
  readonly order?: Order | undefined
  /** Taken by hand: never told to a peer (see `ApplyingTx.byHand`). */
  readonly byHand?: boolean
  /**
   * True for an abort held only in memory (a two-phase `no` vote, or a refusal over the limit).
   * Fix: it must be made durable before it is told to a peer (see `onDecisionRequest`).
   */
  readonly unlogged?: boolean
}

type Builder = ReadyBuilder<ParticipantCoreEvent>

/**
 * The participant's side of presumed-abort two-phase commit, as a pure state machine.
 *
 * Durability (DESIGN.md): `prepared` is forced before `vote: yes`; a `commit` outcome is forced
 * before the `ack`; an `abort` outcome is lazy unless someone is told about it; `end` is lazy.
 * An in-doubt participant never decides alone: it asks the coordinator and its peers
 * (`decision-request`) on a backoff timer until someone who knows answers.
 *
 * Called by the `Participant` runtime, the simulator and the model checker.
 */
export class ParticipantCore {
  private readonly options: ResolvedCommonOptions
  private readonly cooperativeTerminationAfterMs: number
  private readonly transactions = new Map<TxId, TxState>()
  private readonly finished: BoundedMap<TxId, Finished>
  /**
   * Aborts this node told someone about before it ever saw the transaction's `prepare` — to a peer
   * asking, or to a one-phase coordinator asking to abort: durable with no `end`, and never
   * forgotten, so that the `prepare`, if it comes, is voted `no`. There are as many as such records
   * in the log, which keeps them too (and recovery pins them again).
   */
  private readonly pinned = new Map<TxId, Finished>()
  /**
   * Aborts of unknown transactions told to peers asking (see `abortUnknown`), at most
   * `rememberedTransactions`: its own budget, apart from the other pinned aborts (one-phase
   * abort requests for a transaction never seen), which answer its coordinator and cost no answer.
   */
  private abortsToldUnknown = 0
  /**
   * Per coordinator, the highest (epoch, seq) of a transaction this life forgot from memory: a
   * request for an unknown transaction at or below it may be a duplicate of one it finished, so it
   * is refused (the same-life half of "prepare once"; the incarnation covers earlier lives).
   */
  private readonly lowWater = new Map<NodeId, Order>()
  /** This life's number (see `IncarnationRecord`); 0 until `recover`. */
  private incarnation = 0
  private readonly heuristics = new Map<TxId, Unconfirmed>()
  /**
   * Whether this node remembers every transaction it ever voted on, so that "unknown" means
   * "never saw it": true only on the log it created (see `CreatedRecord`), until it forgets an
   * outcome other than abort from memory. Then it cannot answer for transactions it does not know.
   */
  private answersUnknown = true
  private recovered = false

  /** @throws TwopcError `INVALID_OPTIONS` naming the option at fault. */
  constructor(options: ParticipantCoreOptions) {
    this.options = validateCommonOptions(options)
    this.cooperativeTerminationAfterMs = positiveDuration(
      'cooperativeTerminationAfterMs',
      options.cooperativeTerminationAfterMs,
      10_000,
    )
    this.finished = new BoundedMap(this.options.rememberedTransactions)
  }

  /** This node's id. */
  get id(): NodeId {
    return this.options.id
  }

  /** This life's incarnation number, carried as `inc` on its messages; 0 before `recover`. */
  get currentIncarnation(): number {
    return this.incarnation
  }

  /** The options in force (defaults applied). */
  get settings(): ResolvedCommonOptions {
    return this.options
  }

  /** Transactions this participant is working on (preparing, in doubt, or applying an outcome). */
  get inFlight(): number {
    return this.transactions.size
  }

  /** Transactions voted yes on with no outcome yet, in the order they were prepared. */
  inDoubt(): InDoubtTransaction[] {
    const result: InDoubtTransaction[] = []
    for (const tx of this.transactions.values()) {
      if (tx.phase === 'prepared') {
        const { txId, coordinator, participants } = tx.info
        result.push({ txId, coordinator, participants })
      }
    }
    return result
  }

  /**
   * Rebuilds state from this participant's log, once, before any `step`:
   * prepared without outcome → in doubt, and asks at once; outcome without end → re-applied
   * through the resource (so resource `commit`/`abort` must be idempotent); end → finished.
   */
  recover(records: readonly LogRecord[]): Ready<ParticipantCoreEvent> {
    requireRecordList(records)
    if (this.recovered) {
      throw new TwopcError('INVALID_REQUEST', 'recover() must be called once, before any step()')
    }
    this.recovered = true
    assertLogOwner(records, this.id, 'participant')
    const prepared = new Map<TxId, { info: TransactionInfo; onePhase: boolean }>()
    const outcomes = new Map<TxId, { decision: Decision; heuristic: string | undefined }>()
    const ended = new Set<TxId>()
    let lastIncarnation = 0
    for (const record of records) {
      switch (record.type) {
        case 'prepared': {
          const { txId, payload, coordinator, participants, onePhase } = record
          prepared.set(txId, { info: { txId, payload, coordinator, participants }, onePhase })
          break
        }
        case 'outcome':
          outcomes.set(record.txId, { decision: record.decision, heuristic: record.heuristic })
          break
        case 'end':
          ended.add(record.txId)
          break
        case 'incarnation':
          lastIncarnation = Math.max(lastIncarnation, record.n)
          break
        case 'created':
          break
        case 'commit':
          throw new TwopcError(
            'INVALID_RECORD',
            `A participant log holds a coordinator record (commit of ${record.txId})`,
          )
        default:
          unreachable(record)
      }
    }
    const ready: Builder = new ReadyBuilder()
    // A new life, durable before anything is sent: its messages carry this number, and requests
    // meant for an earlier life are refused (so a stale `prepare` never prepares work twice).
    this.incarnation = startLife(ready, this.id, 'participant', lastIncarnation)
    if (records.length > 0) {
      // A restart: finished transactions may have been compacted away and read-only votes leave
      // no trace, so "unknown" no longer means "never saw it".
      this.answersUnknown = false
    }
    for (const txId of new Set([...prepared.keys(), ...outcomes.keys()])) {
      const entry = prepared.get(txId)
      const outcome = outcomes.get(txId)
      let decision = outcome?.decision
      const onePhase = entry?.onePhase ?? false
      if (ended.has(txId) || entry === undefined) {
        // An abort recorded before any prepare (see `pinned`) stays remembered for good. An outcome
        // taken by hand and ended stays one (found by the runtime simulator, seed 5611 of 2001–12000:
        // after a restart, the resent commit met an "abort" it would not acknowledge, forever).
        const pin = !ended.has(txId) && entry === undefined
        const byHand = outcome?.heuristic !== undefined
        this.remember(txId, { outcome: decision ?? 'abort', onePhase, byHand }, pin)
        continue
      }
      if (outcome?.heuristic !== undefined) {
        // Taken by hand and not yet confirmed: keep asking for the real decision.
        this.heuristics.set(txId, { decision: outcome.decision, info: entry.info, attempt: 0, waitedMs: 0 })
        this.askForDecision(ready, txId)
      }
      if (decision === undefined && onePhase) {
        // The crash came between the two records of a one-phase commit: no vote left, so abort is
        // safe. Forced: this `no` is the outcome, and it will be told to the coordinator.
        decision = 'abort'
        ready.persist({ type: 'outcome', txId, decision }, true)
      }
      if (decision === undefined) {
        this.transactions.set(txId, {
          phase: 'prepared',
          info: entry.info,
          order: undefined,
          attempt: 0,
          waitedMs: 0,
          peersAskedAtMs: undefined,
          blocked: false,
        })
        this.askForDecision(ready, txId)
      } else {
        this.startApplying(ready, entry.info, undefined, onePhase, decision, true)
      }
    }
    return ready.build()
  }

  /** Advances the state machine by one input. Never throws for anything the network can cause. */
  step(input: ParticipantInput): Ready<ParticipantCoreEvent> {
    if (!this.recovered) {
      throw new TwopcError('INVALID_REQUEST', 'recover() must be called once, before any step()')
    }
    if (typeof input !== 'object' || input === null) unknownInput(input, INPUT_TYPES)
    const ready: Builder = new ReadyBuilder()
    switch (input.type) {
      case 'message':
        this.receive(ready, input.message)
        break
      case 'timer':
        if (input.timer === 'decision-request') this.askForDecision(ready, input.txId)
        break
      case 'prepare-result':
        this.onPrepareResult(ready, input.txId, input.vote)
        break
      case 'applied':
        this.onApplied(ready, input.txId)
        break
      case 'resolve-manually':
        this.resolveManually(ready, input.txId, input.decision, input.reason)
        break
      default:
        unknownInput(input, INPUT_TYPES)
    }
    return ready.build()
  }

  private receive(ready: Builder, message: Message): void {
    if (message.to !== this.id) return this.drop(ready, message, 'misrouted')
    switch (message.type) {
      case 'prepare':
        return this.onPrepare(ready, message)
      case 'commit':
      case 'abort':
        return this.onDecision(ready, message, message.type)
      case 'decision-request':
        return this.onDecisionRequest(ready, message)
      case 'vote':
      case 'ack':
        return this.drop(ready, message, 'unexpected')
      default:
        return unreachable(message)
    }
  }

  private onPrepare(ready: Builder, message: PrepareMessage): void {
    const { txId, from, participants, payload, onePhase } = message
    const tx = this.transactions.get(txId)
    if (tx !== undefined) {
      if (tx.info.coordinator !== from) return this.drop(ready, message, 'not-the-coordinator')
      if (tx.phase === 'prepared') return this.vote(ready, tx.info, 'yes') // our vote may have been lost
      // Our vote may have been lost: a `no` (or a one-phase outcome) is still wanted by a coordinator retransmitting prepare.
      if (tx.phase === 'applying' && tx.decision === 'abort')
        return this.vote(ready, tx.info, 'no', tx.onePhase)
      if (tx.phase === 'applying' && tx.onePhase) return this.vote(ready, tx.info, 'yes', true)
      if (tx.phase === 'preparing' && tx.abortedBy !== undefined)
        return this.vote(ready, tx.info, 'no', tx.onePhase)
      return this.drop(ready, message, 'duplicate')
    }
    const info: TransactionInfo = { txId, payload, coordinator: from, participants }
    const finished = this.recall(txId)
    if (finished !== undefined) {
      // Answer a repeated prepare with the vote that still holds; a two-phase commit needs no more votes.
      if (finished.outcome === 'read-only') return this.vote(ready, info, 'read-only', onePhase)
      if (finished.outcome === 'abort') return this.vote(ready, info, 'no', onePhase)
      if (finished.onePhase) return this.vote(ready, info, 'yes', true)
      return this.drop(ready, message, 'duplicate')
    }
    if (!participants.includes(this.id) || (onePhase && participants.length !== 1)) {
      return this.drop(ready, message, 'not-a-participant')
    }
    if (this.refuses(from, message)) return this.refuse(ready, message, message)
    const order: Order = { coordinator: from, epoch: message.epoch, seq: message.seq }
    if (this.transactions.size >= this.options.maxInFlightTransactions) {
      // Over the limit: refuse rather than queue without bound. A one-phase `no` is the outcome, so it is logged.
      if (onePhase) ready.persist({ type: 'outcome', txId, decision: 'abort' }, true)
      this.remember(txId, { outcome: 'abort', onePhase, order, unlogged: !onePhase })
      return this.vote(ready, info, 'no', onePhase)
    }
    this.transactions.set(txId, { phase: 'preparing', info, order, onePhase, abortedBy: undefined })
    ready.request('prepare', info)
  }

  private onPrepareResult(ready: Builder, txId: TxId, vote: Vote): void {
    const tx = this.transactions.get(txId)
    if (tx?.phase !== 'preparing') return
    const { info, order, onePhase } = tx
    if (tx.abortedBy !== undefined) {
      // An abort was recorded while the resource prepared; undo whatever it did. A unilateral
      // abort (cooperative termination) keeps its record, with no `end`, so that a prepare
      // retransmitted later is still voted `no` after compaction and restarts.
      // A unilateral abort's record is durable already (forced when a peer asked): never again.
      const unilateral = tx.abortedBy === this.id
      return this.startApplying(ready, info, order, onePhase, 'abort', !unilateral, unilateral)
    }
    switch (vote) {
      case 'yes': {
        const { coordinator, participants, payload } = info
        ready.persist({ type: 'prepared', txId, coordinator, participants, payload, onePhase }, true)
        if (onePhase) {
          // One-phase commit: this participant decides, in the same forced append.
          ready.persist({ type: 'outcome', txId, decision: 'commit' }, true)
          this.vote(ready, info, 'yes', true)
          ready.emit({ type: 'decided', txId, decision: 'commit', from: this.id })
          return this.startApplying(ready, info, order, true, 'commit', true)
        }
        const prepared: PreparedTx = {
          phase: 'prepared',
          info,
          order,
          attempt: 0,
          waitedMs: 0,
          peersAskedAtMs: undefined,
          blocked: false,
        }
        this.transactions.set(txId, prepared)
        this.vote(ready, info, 'yes')
        return this.armDecisionRequest(ready, txId, prepared)
      }
      case 'read-only':
        this.transactions.delete(txId)
        this.remember(txId, { outcome: 'read-only', onePhase, order })
        return this.vote(ready, info, 'read-only', onePhase)
      case 'no':
        // A two-phase `no` needs no record: the coordinator aborts, and a later yes would be
        // answered by presumed abort. A one-phase `no` is the outcome itself, so it is forced.
        if (onePhase) ready.persist({ type: 'outcome', txId, decision: 'abort' }, true)
        this.vote(ready, info, 'no', onePhase)
        return this.startApplying(ready, info, order, onePhase, 'abort', onePhase)
      default:
        return unreachable(vote)
    }
  }

  /** `commit` or `abort` from the coordinator, or from a peer answering a `decision-request`. */
  private onDecision(ready: Builder, message: Message, decision: Decision): void {
    const { txId, from } = message
    const unconfirmed = this.heuristics.get(txId)
    if (unconfirmed !== undefined) return this.confirmHeuristic(ready, message, decision, unconfirmed)
    const tx = this.transactions.get(txId)
    if (tx === undefined) return this.onDecisionForFinished(ready, message, decision)
    if (from !== tx.info.coordinator && !tx.info.participants.includes(from)) {
      return this.drop(ready, message, 'not-a-participant')
    }
    switch (tx.phase) {
      case 'prepared':
        ready.clearTimer(txId, 'decision-request')
        if (decision === 'commit') {
          ready.persist({ type: 'outcome', txId, decision }, true)
          ready.send(this.message('ack', txId, tx.info.coordinator))
        } else {
          ready.persist({ type: 'outcome', txId, decision }, false)
        }
        ready.emit({ type: 'decided', txId, decision, from })
        return this.startApplying(ready, tx.info, tx.order, false, decision, true)
      case 'preparing':
        if (decision === 'commit' || tx.abortedBy !== undefined)
          return this.drop(ready, message, 'unexpected')
        // A one-phase participant has not voted, so only an abort request is expected.
        if (tx.onePhase && !isAbortRequest(message)) return this.drop(ready, message, 'unexpected')
        // Aborted before voting. Forced, because the vote will be `no` from now on, and a
        // one-phase coordinator waits for that vote as the outcome.
        tx.abortedBy = from
        ready.persist({ type: 'outcome', txId, decision: 'abort' }, true)
        if (tx.onePhase) this.vote(ready, tx.info, 'no', true)
        ready.emit({ type: 'decided', txId, decision: 'abort', from })
        return
      case 'applying':
        if (tx.onePhase) return this.onOnePhaseOutcomeMessage(ready, tx, message, decision)
        if (tx.decision !== decision) return this.drop(ready, message, 'conflicts-with-outcome')
        if (decision === 'commit') return ready.send(this.message('ack', txId, tx.info.coordinator))
        return this.drop(ready, message, 'duplicate')
      default:
        return unreachable(tx)
    }
  }

  private onDecisionForFinished(ready: Builder, message: Message, decision: Decision): void {
    const { txId, from } = message
    const finished = this.recall(txId)
    const request = isAbortRequest(message)
    const reply = (vote: Vote): void => this.vote(ready, { txId, coordinator: from }, vote, true)
    if (finished === undefined) {
      // Finished and forgotten: the coordinator resends commit until acked, so ack it.
      if (decision === 'commit') return ready.send(this.message('ack', txId, from))
      // A two-phase abort for a transaction this node does not know needs nothing: a prepare that
      // arrives later is answered by presumed abort when this node asks.
      if (!request) return this.drop(ready, message, 'unknown-transaction')
      // A one-phase coordinator asks to abort a transaction this node does not know. It did not
      // commit it and forget: a one-phase outcome is forgotten only after the coordinator confirmed
      // it, and then the coordinator no longer asks. So abort it, durably and with no `end`, so
      // that a late prepare is voted `no`, and answer with that vote: it is the outcome. Unless the
      // request is not for this life (or is older than what it forgot): then it may be a stale copy
      // about a transaction an earlier life committed, and it is refused.
      const ticket = message.type === 'abort' ? message.ticket : undefined
      if (ticket === undefined || this.refuses(from, ticket)) return this.refuse(ready, message, ticket)
      // Pinned, as recovery pins it (an outcome with no `prepared` and no `end`): found by the
      // simulator (seed 7217950, remembering 1 transaction): remembered only, it was forgotten at the
      // next transaction, and its place in the order went to the low-water mark of `from`, which an
      // outsider forging the request can make another node than the coordinator; the late prepare
      // then found the transaction unknown and prepared it again (S7).
      ready.persist({ type: 'outcome', txId, decision: 'abort' }, true)
      this.remember(
        txId,
        {
          outcome: 'abort',
          onePhase: true,
          order: { coordinator: from, epoch: ticket.epoch, seq: ticket.seq },
        },
        true,
      )
      ready.emit({ type: 'decided', txId, decision: 'abort', from })
      return reply('no')
    }
    // Found by the simulator: the ack reporting a heuristic outcome may be lost, and the
    // coordinator resends commit until it gets one; without an answer it retransmitted forever.
    if (finished.byHand && decision === 'commit' && !request) {
      const ack = this.ack(txId, from)
      return ready.send(finished.outcome === 'abort' ? { ...ack, heuristic: 'abort' } : ack)
    }
    switch (finished.outcome) {
      case 'read-only':
        // It changed nothing, so abort is as true as commit; and a one-phase coordinator that asked
        // to abort takes only `yes` or `no` as the answer (a read-only vote may be stale).
        return request ? reply('no') : this.drop(ready, message, 'duplicate')
      case 'commit':
        // A one-phase coordinator that asks to abort learns from our vote that we committed.
        if (request) return reply('yes')
        if (finished.onePhase) return this.drop(ready, message, 'duplicate')
        if (decision === 'commit') return ready.send(this.message('ack', txId, from))
        return this.drop(ready, message, 'conflicts-with-outcome')
      case 'abort':
        if (request) return reply('no')
        return this.drop(ready, message, decision === 'abort' ? 'duplicate' : 'conflicts-with-outcome')
      default:
        return unreachable(finished.outcome)
    }
  }

  /**
   * A message about a one-phase transaction whose outcome this participant holds: an abort
   * request from a coordinator that timed out is answered with the outcome (our vote); a
   * `commit`/`abort` matching it is the coordinator's confirmation, after which it may be forgotten.
   */
  private onOnePhaseOutcomeMessage(
    ready: Builder,
    tx: ApplyingTx,
    message: Message,
    decision: Decision,
  ): void {
    if (isAbortRequest(message))
      return this.vote(ready, tx.info, tx.decision === 'commit' ? 'yes' : 'no', true)
    if (decision !== tx.decision) return this.drop(ready, message, 'conflicts-with-outcome')
    if (tx.confirmed) return this.drop(ready, message, 'duplicate')
    tx.confirmed = true
    ready.clearTimer(tx.info.txId, 'decision-request')
    if (tx.applied) this.finish(ready, tx)
  }

  private onDecisionRequest(ready: Builder, message: Message): void {
    const { txId, from } = message
    // An outcome taken by hand is not the decision: never hand it on.
    if (this.heuristics.has(txId)) return this.drop(ready, message, 'cannot-answer')
    const tx = this.transactions.get(txId)
    if (tx === undefined) {
      const finished = this.recall(txId)
      if (finished === undefined) return this.abortUnknown(ready, message)
      // Voted read-only: that counts as yes, so this node must not answer abort, and it does not know
      // the outcome. An outcome taken by hand is not the decision either.
      if (finished.outcome === 'read-only' || finished.byHand)
        return this.drop(ready, message, 'cannot-answer')
      if (finished.unlogged) {
        // Fix (S1): a `no` settles nothing if this node may have voted read-only (or committed) in a
        // forgotten earlier life, so then it cannot answer (the same rule as abortUnknown).
        if (!this.answersUnknown) return this.drop(ready, message, 'cannot-answer')
        // Fix (S1): this abort is only in memory (a two-phase `no`). A peer that hears it aborts;
        // if this node then restarted without a record, a retransmitted prepare could be voted
        // yes and the coordinator could commit. Durable first, and never ended, like abortUnknown.
        ready.persist({ type: 'outcome', txId, decision: finished.outcome }, true)
        this.remember(txId, { ...finished, unlogged: false })
      }
      return ready.send(this.message(finished.outcome, txId, from))
    }
    if (!tx.info.participants.includes(from)) return this.drop(ready, message, 'not-a-participant')
    switch (tx.phase) {
      case 'applying':
        // Found by the simulator (manual resolutions as an input): once the real decision confirmed
        // (or contradicted) an outcome taken by hand, this node used to hand on its own outcome.
        if (tx.byHand) return this.drop(ready, message, 'cannot-answer')
        if (!tx.logged && !tx.forced) {
          // Fix (S1): an unlogged abort (after a two-phase `no`) must be durable before a peer
          // hears it, as in the finished case above, and it gets no `end` (like abortUnknown): it
          // must outlive compaction, or a retransmitted prepare could be voted yes after a restart.
          // Written once: found by the model checker, which saw one record per repeated request.
          if (!this.answersUnknown) return this.drop(ready, message, 'cannot-answer')
          ready.persist({ type: 'outcome', txId, decision: tx.decision }, true)
          tx.forced = true
        }
        return ready.send(this.message(tx.decision, txId, from))
      case 'prepared':
        return this.drop(ready, message, 'cannot-answer')
      case 'preparing':
        if (tx.abortedBy === undefined) {
          // Fix (S1): "not voted yet" holds only if this node cannot have voted read-only (or
          // committed) on this transaction in a forgotten earlier life; this may be a re-prepare.
          if (!this.answersUnknown) return this.drop(ready, message, 'cannot-answer')
          // Cooperative termination: not voted yet, so abort unilaterally, durably, before answering.
          tx.abortedBy = this.id
          ready.persist({ type: 'outcome', txId, decision: 'abort' }, true)
          ready.emit({ type: 'decided', txId, decision: 'abort', from: this.id })
          this.vote(ready, tx.info, 'no')
        }
        return ready.send(this.message('abort', txId, from))
      default:
        return unreachable(tx)
    }
  }

  private onApplied(ready: Builder, txId: TxId): void {
    const tx = this.transactions.get(txId)
    if (tx?.phase !== 'applying' || tx.applied) return
    tx.applied = true
    ready.emit({ type: 'applied', txId, decision: tx.decision })
    if (tx.confirmed) this.finish(ready, tx)
  }

  /** Applied (and, for one-phase, confirmed): the transaction is over here. */
  private finish(ready: Builder, tx: ApplyingTx): void {
    const { txId } = tx.info
    // An outcome taken by hand keeps its records until the real decision confirms or contradicts it.
    if (tx.logged && !this.heuristics.has(txId)) ready.persist({ type: 'end', txId }, false)
    this.transactions.delete(txId)
    this.remember(txId, {
      outcome: tx.decision,
      onePhase: tx.onePhase,
      order: tx.order,
      unlogged: !tx.logged && !tx.forced,
      byHand: tx.byHand,
    })
  }

  /** Starts applying an outcome; a one-phase participant also resends its vote until it is confirmed. */
  private startApplying(
    ready: Builder,
    info: TransactionInfo,
    order: Order | undefined,
    onePhase: boolean,
    decision: Decision,
    logged: boolean,
    forced = false,
  ): void {
    const tx: ApplyingTx = {
      phase: 'applying',
      info,
      order,
      onePhase,
      decision,
      logged,
      forced,
      applied: false,
      byHand: this.heuristics.has(info.txId),
      confirmed: !onePhase,
      attempt: 0,
      waitedMs: 0,
    }
    this.transactions.set(info.txId, tx)
    ready.request(decision, info)
    if (onePhase) this.armDecisionRequest(ready, info.txId, tx)
  }

  /**
   * In doubt: ask the coordinator and, once it has been silent for `cooperativeTerminationAfterMs`,
   * every peer too (cooperative termination, Bernstein, Hadzilacos & Goodman §7.4). If the peers
   * had a retransmission interval to answer and none knew the outcome, the transaction is blocked
   * (2PC's known limit: only the coordinator can end it now, or an operator): say so, once. An
   * outcome taken by hand asks the coordinator only, to confirm it.
   */
  private askForDecision(ready: Builder, txId: TxId): void {
    const tx = this.transactions.get(txId)
    if (tx?.phase === 'applying' && tx.onePhase && !tx.confirmed) {
      // The one-phase vote (the outcome) may have been lost: resend it until it is confirmed.
      this.vote(ready, tx.info, tx.decision === 'commit' ? 'yes' : 'no', true)
      tx.attempt += 1
      return this.armDecisionRequest(ready, txId, tx)
    }
    const asking = tx?.phase === 'prepared' ? tx : this.heuristics.get(txId)
    if (asking === undefined) return
    const { coordinator, participants } = asking.info
    if (tx?.phase === 'prepared') {
      if (tx.attempt === 0) ready.emit({ type: 'in-doubt', txId, coordinator })
      const peersAskedAtMs = tx.peersAskedAtMs
      if (
        !tx.blocked &&
        peersAskedAtMs !== undefined &&
        tx.waitedMs - peersAskedAtMs >= this.options.retransmitIntervalMs
      ) {
        tx.blocked = true
        ready.emit({ type: 'blocked', txId, coordinator, participants, waitedMs: tx.waitedMs })
      }
      if (tx.waitedMs >= this.cooperativeTerminationAfterMs) {
        tx.peersAskedAtMs ??= tx.waitedMs
        for (const to of participants)
          if (to !== this.id) ready.send(this.message('decision-request', txId, to))
      }
    }
    ready.send(this.message('decision-request', txId, coordinator))
    asking.attempt += 1
    this.armDecisionRequest(ready, txId, asking)
  }

  private armDecisionRequest(ready: Builder, txId: TxId, asking: Asking): void {
    const { retransmitIntervalMs, retransmitIntervalMsMax, random } = this.options
    const delayMs = backoffDelayMs(asking.attempt, retransmitIntervalMs, retransmitIntervalMsMax, random)
    asking.waitedMs += delayMs
    ready.setTimer(txId, 'decision-request', delayMs)
  }

  /**
   * Cooperative termination for a transaction this node never saw: it has not voted, so it
   * aborts unilaterally — durably, and with no `end`, so that a prepare arriving later is voted
   * `no` — and answers abort. Only safe while this node cannot have forgotten a read-only vote.
   */
  private abortUnknown(ready: Builder, message: Message): void {
    const { txId, from } = message
    if (!this.answersUnknown) return this.drop(ready, message, 'cannot-answer')
    // A limit on everything: each such abort is pinned in memory (and its record is never
    // compacted), and anyone can ask; past the limit, answer nothing (the asker keeps asking others).
    if (this.abortsToldUnknown >= this.options.rememberedTransactions)
      return this.drop(ready, message, 'cannot-answer')
    this.abortsToldUnknown += 1
    ready.persist({ type: 'outcome', txId, decision: 'abort' }, true)
    this.remember(txId, { outcome: 'abort', onePhase: false }, true)
    ready.emit({ type: 'decided', txId, decision: 'abort', from: this.id })
    ready.send(this.message('abort', txId, from))
  }

  private resolveManually(ready: Builder, txId: TxId, decision: Decision, reason: string): void {
    const tx = this.transactions.get(txId)
    if (tx?.phase !== 'prepared') {
      throw new TwopcError(
        'INVALID_REQUEST',
        `Transaction ${txId} is not in doubt on ${this.id}; only an in-doubt transaction can be resolved by hand`,
      )
    }
    if (typeof reason !== 'string' || reason.length === 0 || reason.length > 1000) {
      throw new TwopcError(
        'INVALID_REQUEST',
        'Expected `reason` to be a non-empty string of at most 1000 characters',
      )
    }
    ready.clearTimer(txId, 'decision-request')
    ready.persist({ type: 'outcome', txId, decision, heuristic: reason }, true)
    const unconfirmed: Unconfirmed = { decision, info: tx.info, attempt: 0, waitedMs: 0 }
    this.heuristics.set(txId, unconfirmed)
    ready.emit({ type: 'decided', txId, decision, from: this.id })
    this.startApplying(ready, tx.info, tx.order, false, decision, true)
    this.armDecisionRequest(ready, txId, unconfirmed)
  }

  /** The real decision arrived for an outcome taken by hand: acknowledge it, reporting any mismatch. */
  private confirmHeuristic(
    ready: Builder,
    message: Message,
    decision: Decision,
    unconfirmed: Unconfirmed,
  ): void {
    const { txId, from } = message
    const { coordinator, participants } = unconfirmed.info
    if (from !== coordinator && !participants.includes(from))
      return this.drop(ready, message, 'not-a-participant')
    this.heuristics.delete(txId)
    ready.clearTimer(txId, 'decision-request')
    const ack = this.ack(txId, coordinator)
    if (decision !== unconfirmed.decision) {
      ready.emit({ type: 'heuristic-mismatch', txId, decision, heuristic: unconfirmed.decision })
      ready.send({ ...ack, heuristic: unconfirmed.decision })
    } else if (decision === 'commit') {
      ready.send(ack)
    }
    if (!this.transactions.has(txId)) ready.persist({ type: 'end', txId }, false)
  }

  /**
   * Remembers a finished transaction (`pin`: for good, see `pinned`). Evicting a read-only vote
   * means unknown ones can no longer be answered; evicting any transaction raises the low-water
   * mark of its coordinator, so that a late duplicate of its `prepare` is refused.
   */
  private remember(txId: TxId, finished: Finished, pin = false): void {
    if (pin) {
      this.pinned.set(txId, finished)
      return
    }
    const evicted = this.finished.set(txId, finished)
    if (evicted === undefined) return
    // Fix (S1): forgetting a commit is as bad as forgetting a read-only vote: a peer in doubt about
    // it must not be told abort. Only a forgotten abort is still answered correctly by abortUnknown.
    // An abort taken by hand says nothing of the real decision: forgetting it is forgetting a vote
    // (found by an independent review: a peer in doubt was then told abort of a committed one).
    if (evicted.outcome !== 'abort' || evicted.byHand) this.answersUnknown = false
    const order = evicted.order
    if (order !== undefined && isAfter(order, this.lowWater.get(order.coordinator)))
      this.lowWater.set(order.coordinator, order)
  }

  /** What this node remembers of a finished transaction, if anything. */
  private recall(txId: TxId): Finished | undefined {
    return this.finished.get(txId) ?? this.pinned.get(txId)
  }

  /**
   * Whether a request about a transaction this node does not know must be refused: it is not for
   * this life (a stale copy may be about work an earlier life did and forgot), or it is not after
   * everything this life forgot from that coordinator (it may be about work done and forgotten).
   */
  private refuses(coordinator: NodeId, ticket: PrepareTicket): boolean {
    if (ticket.inc !== this.incarnation) return true
    const forgotten = this.lowWater.get(coordinator)
    return forgotten !== undefined && !isAfter({ coordinator, ...ticket }, forgotten)
  }

  /** Refuses a request: a `no` flagged `refused`, with no resource call, no record and no decision. */
  private refuse(ready: Builder, message: Message, ticket: PrepareTicket | undefined): void {
    const { txId, from } = message
    const refused = ticket?.inc ?? 0
    ready.send({
      v: PROTOCOL_VERSION,
      type: 'vote',
      txId,
      from: this.id,
      to: from,
      vote: 'no',
      refused,
      inc: this.incarnation,
    })
    ready.emit({ type: 'refused', txId, coordinator: from })
  }

  private ack(txId: TxId, to: NodeId): AckMessage {
    return { v: PROTOCOL_VERSION, type: 'ack', txId, from: this.id, to, inc: this.incarnation }
  }

  /** Sends a vote to the coordinator; a one-phase vote is flagged, because it is the outcome. */
  private vote(
    ready: Builder,
    info: Pick<TransactionInfo, 'txId' | 'coordinator'>,
    vote: Vote,
    onePhase = false,
  ): void {
    const { txId, coordinator: to } = info
    const message: VoteMessage = onePhase
      ? { v: PROTOCOL_VERSION, type: 'vote', txId, from: this.id, to, vote, inc: this.incarnation, onePhase }
      : { v: PROTOCOL_VERSION, type: 'vote', txId, from: this.id, to, vote, inc: this.incarnation }
    ready.send(message)
    ready.emit({ type: 'voted', txId: info.txId, vote })
  }

  private drop(ready: Builder, message: Message, reason: DropReason): void {
    ready.emit({ type: 'message-dropped', reason, message })
  }

  /** A message with no body. Built as one literal: on Node 20 spreading a header costs microseconds. */
  private message(type: Exclude<MessageType, 'prepare' | 'vote'>, txId: TxId, to: NodeId): Message {
    return type === 'ack' || type === 'decision-request'
      ? { v: PROTOCOL_VERSION, type, txId, from: this.id, to, inc: this.incarnation }
      : { v: PROTOCOL_VERSION, type, txId, from: this.id, to }
  }
}

/** Whether `order` comes after `other` in their coordinator's order (anything is after nothing). */
function isAfter(order: Order, other: Order | undefined): boolean {
  if (other === undefined) return true
  return order.epoch > other.epoch || (order.epoch === other.epoch && order.seq > other.seq)
}

/** The `type`s of the inputs `step` takes. */
const INPUT_TYPES: readonly string[] = ['message', 'timer', 'prepare-result', 'applied', 'resolve-manually']
