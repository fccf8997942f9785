import { EventEmitter } from 'eventemitter3'
import {
  CoordinatorCore,
  type CoordinatorCoreOptions,
  type CoordinatorTxStatus,
} from '../core/coordinator.js'
import { TwopcError } from '../core/errors.js'
import { invalidOption } from '../core/options.js'
import type { CoordinatorCoreEvent } from '../core/ready.js'
import type { AbortReason, Json, NodeId, TxId } from '../core/types.js'
import { type InvalidMessageEvent, NodeRuntime } from './node-runtime.js'
import { type EdgeOptions, type EventMap, resolveEdges } from './options.js'
import type { NodeStats } from './stats.js'

/** Options of a {@link Coordinator}. Timings are validated up front; see each field's default. */
export interface CoordinatorOptions extends EdgeOptions, Omit<CoordinatorCoreOptions, 'random'> {
  /**
   * Makes ids for transactions started without one.
   * @default crypto.randomUUID
   */
  readonly generateTxId?: () => TxId
}

/** What `commit()` asks for. */
export interface CommitRequest {
  /**
   * Each participant's id mapped to its share of the work (any JSON value). One participant
   * means one-phase commit.
   * @example { 'bank-a': { debit: 100 }, 'bank-b': { credit: 100 } }
   */
  readonly participants: Readonly<Record<NodeId, Json>>
  /** The transaction id; must be new to this coordinator. @default generateTxId() */
  readonly txId?: TxId
  /**
   * Cancels the transaction if it is not decided yet (the outcome is then an abort with
   * `reason: 'cancelled'`). A decided transaction cannot be cancelled.
   */
  readonly signal?: AbortSignal
}

/** The outcome `commit()` resolves to. */
export type CommitOutcome =
  | { readonly txId: TxId; readonly decision: 'commit' }
  | { readonly txId: TxId; readonly decision: 'abort'; readonly reason: AbortReason }

/** Events of a {@link Coordinator}: the core's events, invalid messages, and `halted`. */
export type CoordinatorEvents = EventMap<CoordinatorCoreEvent | InvalidMessageEvent> & {
  /** The log failed; every pending promise was rejected with this `NODE_HALTED` error. */
  halted: [TwopcError]
}

interface Waiter<T> {
  resolve(value: T): void
  reject(error: unknown): void
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
  private readonly decisions = new Map<TxId, Waiter<CommitOutcome>>()
  private readonly completions = new Map<TxId, Waiter<void>[]>()

  /** @throws TwopcError `INVALID_OPTIONS` naming the option, the value and what was expected. */
  constructor(options: CoordinatorOptions) {
    super()
    const edges = resolveEdges(options)
    this.core = new CoordinatorCore({ ...options, random: edges.random })
    if (options.generateTxId !== undefined && typeof options.generateTxId !== 'function') {
      invalidOption('generateTxId', 'a function returning a transaction id', options.generateTxId)
    }
    this.generateTxId = options.generateTxId ?? (() => globalThis.crypto.randomUUID())
    const core = this.core
    this.runtime = new NodeRuntime<CoordinatorCoreEvent>(
      {
        recover: (records) => core.recover(records),
        stepMessage: (message) => core.step({ type: 'message', message }),
        stepTimer: (txId, timer) => core.step({ type: 'timer', txId, timer }),
      },
      edges,
      {
        event: (event) => this.onEvent(event),
        request: () => {},
        halted: (error) => this.rejectAll(error, 'halted'),
      },
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
  start(): Promise<void> {
    return this.runtime.start()
  }

  /**
   * Runs one transaction. Resolves with `commit` once the commit decision is durable (the
   * participants apply it afterwards; see {@link completion}), or with `abort` and its reason.
   *
   * @throws TwopcError `INVALID_REQUEST`, `DUPLICATE_TRANSACTION`, `TOO_MANY_TRANSACTIONS`,
   * `NOT_STARTED`, `NODE_HALTED`, `CLOSED` (as a rejection).
   */
  async commit(request: CommitRequest): Promise<CommitOutcome> {
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
    const txId = request.txId ?? this.generateTxId()
    if (signal?.aborted) return { txId, decision: 'abort', reason: 'cancelled' }
    const ready = this.core.step({ type: 'begin', txId, participants: new Map(Object.entries(participants)) })
    const outcome = new Promise<CommitOutcome>((resolve, reject) =>
      this.decisions.set(txId, { resolve, reject }),
    )
    if (signal !== undefined) {
      const cancel = () => this.runtime.execute(this.core.step({ type: 'cancel', txId }))
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
   * @throws TwopcError `UNKNOWN_TRANSACTION` if this coordinator neither runs nor remembers it.
   */
  completion(txId: TxId): Promise<void> {
    const status = this.core.status(txId)
    if (status.state === 'finished') return Promise.resolve()
    if (status.state === 'unknown') {
      return Promise.reject(
        new TwopcError('UNKNOWN_TRANSACTION', `Coordinator ${this.id} does not know ${txId}`),
      )
    }
    return new Promise((resolve, reject) => {
      const waiters = this.completions.get(txId) ?? []
      waiters.push({ resolve, reject })
      this.completions.set(txId, waiters)
    })
  }

  /** What this coordinator knows about `txId` now. */
  status(txId: TxId): CoordinatorTxStatus {
    return this.core.status(txId)
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
      const waiter = this.decisions.get(event.txId)
      this.decisions.delete(event.txId)
      waiter?.resolve(
        event.decision === 'commit'
          ? { txId: event.txId, decision: 'commit' }
          : { txId: event.txId, decision: 'abort', reason: event.reason },
      )
    } else if (event.type === 'completed') {
      for (const waiter of this.completions.get(event.txId) ?? []) waiter.resolve()
      this.completions.delete(event.txId)
    }
    ;(this.emit as (type: string, event: unknown) => boolean)(event.type, event)
  }

  private rejectAll(error: TwopcError, emit?: 'halted'): void {
    for (const waiter of this.decisions.values()) waiter.reject(error)
    for (const waiters of this.completions.values()) for (const waiter of waiters) waiter.reject(error)
    this.decisions.clear()
    this.completions.clear()
    if (emit) this.emit('halted', error)
  }
}
