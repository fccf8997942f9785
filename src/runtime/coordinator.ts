import { EventEmitter } from 'eventemitter3'
import {
  CoordinatorCore,
  type CoordinatorCoreOptions,
  type CoordinatorTxStatus,
} from '../core/coordinator.js'
import { TwopcError, unreachable } from '../core/errors.js'
import { invalidOption } from '../core/options.js'
import { frozenPayloads } from '../core/payload.js'
import type { CoordinatorCoreEvent } from '../core/ready.js'
import type { AbortReason, Json, NodeId, TxId } from '../core/types.js'
import { describe, requireTxId } from '../core/validate.js'
import { AdmissionQueue } from './admission.js'
import type { Clock } from './interfaces.js'
import { type InvalidMessageEvent, NodeRuntime, type SendFailedEvent } from './node-runtime.js'
import { type EdgeOptions, type EventMap, resolveEdges } from './options.js'
import { COORDINATOR_ROUND_TRIPS, RoundTrips } from './round-trips.js'
import type { NodeStats } from './stats.js'

/** Options of a {@link Coordinator}. Timings are validated up front; see each field's default. */
export interface CoordinatorOptions extends EdgeOptions, Omit<CoordinatorCoreOptions, 'random'> {
  /**
   * How long `commit()` waits for the votes. When it runs out with a vote missing: two or more
   * participants — the transaction aborts and `commit()` resolves
   * `{ decision: 'abort', reason: 'prepare-timeout' }`; one participant (one-phase: the participant
   * decides) — the coordinator asks it to abort, keeps asking until it answers, and `commit()`
   * resolves `{ decision: 'unknown', reason: 'prepare-timeout' }` at once. So every `commit()`
   * settles within this time, plus one forced log write when every vote arrived in time.
   * @default 5000
   * @example prepareTimeoutMs: 2000
   */
  readonly prepareTimeoutMs?: number
  /**
   * Admission control: how many `commit()` calls may wait, oldest first, while
   * `maxInFlightTransactions` are in flight; each begins (and its `prepareTimeoutMs` starts) when a
   * transaction finishes, and its `signal` still cancels it while it waits. Past this many waiting,
   * `commit()` rejects with `TOO_MANY_TRANSACTIONS`. 0: none wait — past `maxInFlightTransactions`
   * `commit()` rejects at once.
   *
   * Waiting outside the protocol keeps throughput at its peak under a burst: past the point where
   * more transactions in flight only add queueing, every extra one costs timers, retransmissions
   * and, at worst, prepare timeouts (see the README's "Overload").
   * @default 0
   * @example { maxInFlightTransactions: 1000, maxQueuedTransactions: 100_000 }
   */
  readonly maxQueuedTransactions?: number
  /**
   * Makes ids for transactions started without one.
   * @default crypto.randomUUID
   */
  readonly generateTxId?: () => TxId
}

/** What `commit()` asks for; `P` is the type of `participants`. */
export interface CommitRequest<P extends Readonly<Record<NodeId, Json>> = Readonly<Record<NodeId, Json>>> {
  /**
   * Each participant's id mapped to its share of the work. One participant means one-phase commit.
   * Each payload must be plain JSON, nested at most 64 levels, and fit a `prepare` message of at
   * most 1 MiB − 4 KiB (the payload rule, `src/core/payload.ts`); `commit()` checks it before
   * anything is sent, so the participant receives exactly this value. `commit()` takes a frozen
   * copy at the call: changing these objects afterwards changes nothing that is prepared, and the
   * participant's resource receives the payload frozen.
   * @example { 'bank-a': { debit: 100 }, 'bank-b': { credit: 100 } }
   */
  readonly participants: P
  /** The transaction id; must be new to this coordinator. @default generateTxId() */
  readonly txId?: TxId
  /**
   * Gives up waiting. Already aborted when `commit()` is called: resolves with an abort
   * (`reason: 'cancelled'`) and nothing is sent. Fired later, while the transaction is undecided:
   * - two-phase (several participants): the transaction aborts and `commit()` resolves with
   *   `{ decision: 'abort', reason: 'cancelled' }`;
   * - one-phase (one participant, which decides): the coordinator asks the participant to abort,
   *   and `commit()` resolves at once with `{ decision: 'unknown', reason: 'cancelled' }` — the
   *   participant may have committed already; {@link Coordinator.completion} resolves once its
   *   answer arrives, and {@link Coordinator.status} then shows the outcome.
   *
   * Fired once the transaction is decided, it changes nothing.
   */
  readonly signal?: AbortSignal
}

/**
 * The outcome `commit()` resolves to. `unknown` happens only with one participant (one-phase
 * commit, where the participant decides): the prepare timeout or the `signal` fired before its
 * answer arrived. The transaction goes on in the background: the coordinator keeps asking the
 * participant to abort until it answers (`status(txId)` shows it `preparing`, `pending()` lists
 * it), and `completion(txId)` resolves once the outcome is known.
 */
export type CommitOutcome =
  | DecidedOutcome
  | {
      readonly txId: TxId
      readonly decision: 'unknown'
      readonly reason: Extract<AbortReason, 'prepare-timeout' | 'cancelled'>
    }

/** A decided outcome: what `commit()` resolves to when the request names two or more participants. */
export type DecidedOutcome =
  | { readonly txId: TxId; readonly decision: 'commit' }
  | { readonly txId: TxId; readonly decision: 'abort'; readonly reason: AbortReason }

/**
 * What `commit()` resolves to for participants of type `P`: {@link DecidedOutcome} when the type
 * names two or more participants (an object literal with two or more keys: two-phase, never
 * `unknown`), {@link CommitOutcome} otherwise (one participant, or ids known only at run time).
 * `K` is internal: it distributes over the keys (a key that is not all of them means two or more).
 */
export type OutcomeFor<P, K extends keyof P = keyof P> = string extends K
  ? CommitOutcome
  : [K] extends [never]
    ? CommitOutcome
    : K extends unknown
      ? [keyof P] extends [K]
        ? CommitOutcome
        : DecidedOutcome
      : never

/** An unfinished transaction, as {@link Coordinator.pending} lists it. */
export type PendingTransaction = {
  readonly txId: TxId
  /** When this coordinator began the transaction (or found it in its log at start), by its clock. */
  readonly since: number
  /** Milliseconds since `since`, by the same clock. */
  readonly ageMs: number
} & (
  | {
      /** Waiting for votes (one-phase: for the participant's answer). */
      readonly state: 'preparing'
      /** Participants whose vote has not arrived. */
      readonly missingVotes: readonly NodeId[]
    }
  | {
      /** Decided commit; resending `commit` until every participant acks. */
      readonly state: 'committing'
      /** Participants that have not acknowledged the commit. */
      readonly pendingAcks: readonly NodeId[]
    }
)

/**
 * Events of a {@link Coordinator}: the core's events, invalid messages, `send-failed` (the
 * transport's `send` threw or rejected; also counted in `stats().sendFailures`), and `halted`.
 */
export type CoordinatorEvents = EventMap<CoordinatorCoreEvent | InvalidMessageEvent | SendFailedEvent> & {
  /** The log failed; every pending promise was rejected with this `NODE_HALTED` error. */
  halted: [TwopcError]
}

interface Waiter<T> {
  resolve(value: T): void
  reject(error: unknown): void
}

interface DecisionWaiter extends Waiter<CommitOutcome> {
  /** One participant: the participant decides, so a timeout or cancel leaves the outcome unknown. */
  readonly onePhase: boolean
}

/**
 * What the node keeps of an unfinished transaction besides its core's state: one entry, in one
 * map, for all three (a map per item added to and deleted from per transaction costs its table's
 * rehashes, and each rehash keeps the old table's entries alive until the next full collection).
 */
interface Unfinished {
  /** When it began, or was found in the log at start (for `pending()`). */
  since: number
  /** The `commit()` call waiting for the decision, until it settles. */
  decision: DecisionWaiter | undefined
  /** `completion()` calls waiting. */
  completions: Waiter<void>[] | undefined
}

/**
 * Runs transactions: sends `prepare`, collects votes, forces the commit decision, and resends it
 * until every participant acks — across lost messages and its own restarts.
 *
 * @example
 * ```ts
 * const coordinator = new Coordinator({ id: 'coord', transport: net.connect('coord'), log: new MemoryLog() })
 * await coordinator.start()
 * const outcome = await coordinator.commit({ participants: { 'bank-a': { debit: 100 }, 'bank-b': { credit: 100 } } })
 * ```
 */
export class Coordinator extends EventEmitter<CoordinatorEvents> {
  private readonly core: CoordinatorCore
  private readonly runtime: NodeRuntime<CoordinatorCoreEvent>
  private readonly generateTxId: () => TxId
  private readonly clock: Clock
  /** Every unfinished transaction, begun here or found in the log at start. */
  private readonly unfinished = new Map<TxId, Unfinished>()
  /** `commit()` calls waiting for room (`maxQueuedTransactions`). */
  private readonly admission: AdmissionQueue
  /** The adaptive retransmission timeout. */
  private readonly roundTrips: RoundTrips

  /** @throws TwopcError `INVALID_OPTIONS` naming the option, the value and what was expected. */
  constructor(options: CoordinatorOptions) {
    super()
    const edges = resolveEdges(options)
    this.clock = edges.clock
    this.core = new CoordinatorCore({ ...options, random: edges.random })
    if (options.generateTxId !== undefined && typeof options.generateTxId !== 'function') {
      invalidOption('generateTxId', 'a function returning a transaction id', options.generateTxId)
    }
    this.generateTxId = options.generateTxId ?? (() => globalThis.crypto.randomUUID())
    const maxQueued = options.maxQueuedTransactions ?? 0
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 0)
      invalidOption('maxQueuedTransactions', 'a non-negative integer', maxQueued)
    this.admission = new AdmissionQueue(this.core.settings.maxInFlightTransactions, maxQueued)
    // A commit confirming a one-phase outcome is sent as the transaction finishes: no ack follows.
    // The floor on retransmissions stays at most half the prepare timeout: a lost prepare is always
    // resent in time to be answered.
    const { retransmitIntervalMsMax } = this.core.settings
    this.roundTrips = new RoundTrips(
      COORDINATOR_ROUND_TRIPS,
      edges.clock,
      Math.min(retransmitIntervalMsMax, Math.floor(this.core.prepareTimeout / 2)),
      (message) => message.type !== 'commit' || this.core.stateOf(message.txId) === 'committing',
    )
    const core = this.core
    this.runtime = new NodeRuntime<CoordinatorCoreEvent>(
      {
        recover: (records) => core.recover(records),
        stepMessage: (message) => core.step({ type: 'message', message }),
        stepTimer: (txId, timer) => {
          const ready = core.step({ type: 'timer', txId, timer })
          if (timer === 'prepare-timeout') this.settleUnknown(txId, 'prepare-timeout')
          return ready
        },
      },
      edges,
      {
        event: (event) => this.onEvent(event),
        request: () => {},
        halted: (error) => this.rejectAll(error, 'halted'),
        sendFailed: (event) => this.onSendFailed(event),
      },
      this.roundTrips,
    )
  }

  /** This coordinator's node id. */
  get id(): NodeId {
    return this.core.id
  }

  /**
   * Loads the log and resumes every committed transaction not yet acknowledged by all. Call once.
   * Rejects with `CLOSED` if `close()` is called before it finishes.
   */
  async start(): Promise<void> {
    await this.runtime.start()
    const now = this.clock.now()
    for (const txId of this.core.unfinished()) this.track(txId, now)
  }

  /**
   * Runs one transaction. Resolves with `commit` once the commit decision is durable (the
   * participants apply it afterwards; see {@link completion}), with `abort` and its reason, or —
   * one participant only — with `unknown` (see {@link CommitOutcome}).
   *
   * Settles within `prepareTimeoutMs` of the call, plus the time to force the `commit` record when
   * every vote arrived in time; at once (after that write, if the decision was being made) when
   * `signal` fires. It is rejected instead when the node closes or halts, and
   * with `INVALID_REQUEST` when the transport refuses outright to send a two-phase `prepare` (it
   * threw `INVALID_MESSAGE`: no address for the participant in its `peers`, or a message over its
   * size limit): the transaction is then aborted at once, which is safe since no commit can have
   * been decided without that participant's vote.
   *
   * @throws TwopcError (as a rejection) `INVALID_REQUEST` for a malformed request or a payload that
   * breaks the payload rule (naming the participant and the JSON path; nothing is sent or logged),
   * `DUPLICATE_TRANSACTION`, `TOO_MANY_TRANSACTIONS`, `NOT_STARTED`, `NODE_HALTED`, `CLOSED`.
   */
  async commit<P extends Readonly<Record<NodeId, Json>>>(request: CommitRequest<P>): Promise<OutcomeFor<P>> {
    this.runtime.assertRunning()
    if (typeof request !== 'object' || request === null) {
      throw new TwopcError('INVALID_REQUEST', 'Expected commit() to receive an object with `participants`')
    }
    const { participants, signal } = request
    if (typeof participants !== 'object' || participants === null || Array.isArray(participants)) {
      throw new TwopcError(
        'INVALID_REQUEST',
        'Expected `participants` to be an object mapping node ids to payloads',
      )
    }
    if (signal !== undefined && !isAbortSignal(signal)) {
      throw new TwopcError(
        'INVALID_REQUEST',
        `Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`,
      )
    }
    // Checked before the payloads, whose room the id's length takes.
    const txId = request.txId === undefined ? this.generateTxId() : requireTxId(request.txId)
    const payloads = frozenPayloads(participants, { txId, coordinator: this.id })
    const cancelled = { txId, decision: 'abort', reason: 'cancelled' } as OutcomeFor<P>
    if (signal?.aborted) return cancelled
    const waited = this.admission.mustWait(this.core.inFlight)
    if (waited) {
      this.core.checkBegin(txId, payloads) // a bad request is refused now, not after the wait
      if (!(await this.admission.wait(signal))) return cancelled
      this.admission.begun()
      // Let in, but a microtask later: the node may have closed, or the caller given up, since.
      if (signal?.aborted || this.runtime.lifecycle !== 'running') {
        this.admission.release(this.core.inFlight)
        this.runtime.assertRunning()
        return cancelled
      }
    }
    let ready: ReturnType<CoordinatorCore['step']>
    try {
      ready = this.core.step({ type: 'begin', txId, participants: payloads })
    } catch (error) {
      // Not begun (a duplicate id): the room it was let into goes to the next caller waiting.
      if (waited) this.admission.release(this.core.inFlight)
      throw error
    }
    const now = this.clock.now()
    const unfinished = this.track(txId, now)
    // Begun now, even over an entry an earlier run of this id left (see the 'completed' event).
    unfinished.since = now
    const onePhase = payloads.size === 1
    const outcome = new Promise<OutcomeFor<P>>((resolve, reject) => {
      unfinished.decision = { resolve: resolve as (outcome: CommitOutcome) => void, reject, onePhase }
    })
    if (signal !== undefined) {
      const cancel = () => {
        this.runtime.execute(this.core.step({ type: 'cancel', txId }))
        this.settleUnknown(txId, 'cancelled')
      }
      signal.addEventListener('abort', cancel, { once: true })
      outcome.then(
        () => signal.removeEventListener('abort', cancel),
        () => signal.removeEventListener('abort', cancel),
      )
    }
    this.runtime.execute(ready)
    return outcome
  }

  /**
   * Resolves once the transaction needs nothing more from anyone: every participant that voted
   * yes acknowledged the commit (or the transaction aborted).
   * @throws TwopcError (as a rejection) `UNKNOWN_TRANSACTION` if this coordinator neither runs nor
   * remembers it; `INVALID_REQUEST` for a value that is not a transaction id; `NODE_HALTED` once
   * the node halted.
   */
  completion(txId: TxId): Promise<void> {
    try {
      this.runtime.assertNotHalted()
      requireTxId(txId)
    } catch (error) {
      return Promise.reject(error)
    }
    const state = this.core.stateOf(txId)
    if (state === 'finished') return Promise.resolve()
    if (state === 'unknown') {
      return Promise.reject(
        new TwopcError('UNKNOWN_TRANSACTION', `Coordinator ${this.id} does not know ${txId}`),
      )
    }
    const unfinished = this.unfinished.get(txId) ?? this.track(txId, this.clock.now())
    return new Promise((resolve, reject) => {
      unfinished.completions ??= []
      unfinished.completions.push({ resolve, reject })
    })
  }

  /**
   * What this coordinator knows about `txId` now.
   * @throws TwopcError `INVALID_REQUEST` for a value that is not a transaction id; `NODE_HALTED`
   * once the node halted (its memory may hold a decision its log never got: restart it)
   */
  status(txId: TxId): CoordinatorTxStatus {
    this.runtime.assertNotHalted()
    return this.core.status(requireTxId(txId))
  }

  /**
   * Every transaction begun (or resumed from the log) and not finished, oldest first: `preparing`
   * with the votes still missing, or `committing` with the acks still pending — the list to alert
   * on when `ageMs` grows. A one-phase transaction whose `commit()` resolved `unknown` stays here
   * (`preparing`) until its participant answers.
   * @throws TwopcError `NODE_HALTED` once the node halted (see {@link status})
   */
  pending(): PendingTransaction[] {
    this.runtime.assertNotHalted()
    const now = this.clock.now()
    return this.core.unfinished().map((txId): PendingTransaction => {
      const since = this.unfinished.get(txId)?.since ?? now
      const status = this.core.status(txId)
      const base = { txId, since, ageMs: now - since }
      switch (status.state) {
        case 'preparing': {
          const missingVotes = Object.keys(status.votes).filter((id) => status.votes[id] === 'pending')
          return { ...base, state: 'preparing', missingVotes }
        }
        case 'committing':
          return { ...base, state: 'committing', pendingAcks: status.pendingAcks }
        case 'finished':
        case 'unknown':
          throw new Error(`twopc internal error: unfinished transaction ${txId} is ${status.state}`)
        default:
          return unreachable(status)
      }
    })
  }

  /** Counters: messages sent by type, records and forced appends, transactions in flight. */
  stats(): NodeStats {
    return this.runtime.counters.snapshot(this.core.inFlight, 0)
  }

  /** Stops the node: pending `commit()`/`completion()` promises reject with `CLOSED`. Durable state stays in the log. */
  async close(): Promise<void> {
    this.rejectAll(new TwopcError('CLOSED', `Coordinator ${this.id} was closed`))
    await this.runtime.close()
  }

  private onEvent(event: CoordinatorCoreEvent | InvalidMessageEvent): void {
    if (event.type === 'decided') {
      const waiter = this.takeDecision(event.txId)
      waiter?.resolve(
        event.decision === 'commit'
          ? { txId: event.txId, decision: 'commit' }
          : { txId: event.txId, decision: 'abort', reason: event.reason },
      )
    } else if (event.type === 'completed') {
      const unfinished = this.unfinished.get(event.txId)
      const waiters = unfinished?.completions
      if (unfinished !== undefined) unfinished.completions = undefined
      // A `commit()` still waiting began this id again, after the core forgot its earlier run and
      // before this event of that run arrived (found by review): the entry is the new run's now.
      if (unfinished?.decision === undefined) this.unfinished.delete(event.txId)
      this.roundTrips.finished(event.txId)
      this.admission.release(this.core.inFlight)
      for (const waiter of waiters ?? []) waiter.resolve()
    }
    ;(this.emit as (type: string, event: unknown) => boolean)(event.type, event)
  }

  /**
   * One-phase only: the prepare timeout or the caller's `signal` made the coordinator ask the
   * participant to abort, but the participant decides and may have committed: the outcome is
   * unknown until it answers, so `commit()` resolves with `unknown` now rather than waiting.
   */
  private settleUnknown(txId: TxId, reason: 'prepare-timeout' | 'cancelled'): void {
    if (!this.unfinished.get(txId)?.decision?.onePhase || this.core.stateOf(txId) !== 'preparing') return
    this.takeDecision(txId)?.resolve({ txId, decision: 'unknown', reason })
  }

  /**
   * Reports a failed send. A two-phase `prepare` the transport refused outright (`INVALID_MESSAGE`:
   * it has no address for the participant, or the message is over its limit) would fail the same
   * way on every retransmission: abort now and reject `commit()` with the cause, rather than wait
   * out `prepareTimeoutMs`. Safe: without that participant's vote no commit can have been decided.
   */
  private onSendFailed(event: SendFailedEvent): void {
    this.emit('send-failed', event)
    const { message, error } = event
    if (!event.thrown || message.type !== 'prepare' || message.onePhase) return
    if (!(error instanceof TwopcError) || error.code !== 'INVALID_MESSAGE') return
    if (this.unfinished.get(message.txId)?.decision === undefined) return
    if (this.core.stateOf(message.txId) !== 'preparing') return
    this.takeDecision(message.txId)?.reject(
      new TwopcError(
        'INVALID_REQUEST',
        `Transaction ${message.txId} aborted: the transport refused to send its prepare to ${JSON.stringify(message.to)}: ${error.message}`,
        { cause: error },
      ),
    )
    this.runtime.execute(this.core.step({ type: 'cancel', txId: message.txId }))
  }

  /** The entry of unfinished `txId`, added (found at `now`) if it has none yet. */
  private track(txId: TxId, now: number): Unfinished {
    let unfinished = this.unfinished.get(txId)
    if (unfinished === undefined) {
      unfinished = { since: now, decision: undefined, completions: undefined }
      this.unfinished.set(txId, unfinished)
    }
    return unfinished
  }

  /** Removes and returns the `commit()` call waiting for the decision of `txId`, if any. */
  private takeDecision(txId: TxId): DecisionWaiter | undefined {
    const unfinished = this.unfinished.get(txId)
    const waiter = unfinished?.decision
    if (unfinished !== undefined) unfinished.decision = undefined
    return waiter
  }

  private rejectAll(error: TwopcError, emit?: 'halted'): void {
    // The entries stay: a closed node still lists its unfinished transactions, with their age (a
    // halted one answers nothing: see `NodeRuntime.assertNotHalted`).
    for (const unfinished of this.unfinished.values()) {
      unfinished.decision?.reject(error)
      for (const waiter of unfinished.completions ?? []) waiter.reject(error)
      unfinished.decision = undefined
      unfinished.completions = undefined
    }
    this.admission.rejectAll(error)
    if (emit) this.emit('halted', error)
  }
}

/** Whether `value` can serve as `commit()`'s `signal`: an `AbortSignal`, or one from another realm or a polyfill. */
function isAbortSignal(value: unknown): value is AbortSignal {
  if (typeof value !== 'object' || value === null) return false
  const signal = value as Partial<AbortSignal>
  return (
    typeof signal.aborted === 'boolean' &&
    typeof signal.addEventListener === 'function' &&
    typeof signal.removeEventListener === 'function'
  )
}
