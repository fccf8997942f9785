import { EventEmitter } from 'eventemitter3'
import pRetry from 'p-retry'
import { TwopcError } from '../core/errors.js'
import { positiveDuration } from '../core/options.js'
import { type InDoubtTransaction, ParticipantCore, type ParticipantCoreOptions } from '../core/participant.js'
import type { ParticipantCoreEvent, ResourceRequest } from '../core/ready.js'
import type { Decision, NodeId, TxId, Vote } from '../core/types.js'
import { VOTES } from '../core/validate.js'
import type { Resource } from './interfaces.js'
import { type InvalidMessageEvent, NodeRuntime, type SendFailedEvent } from './node-runtime.js'
import { type EdgeOptions, type EventMap, resolveEdges, validateResource } from './options.js'
import { PARTICIPANT_ROUND_TRIPS, RoundTrips } from './round-trips.js'
import type { NodeStats } from './stats.js'

/** Options of a {@link Participant}. */
export interface ParticipantOptions extends EdgeOptions, Omit<ParticipantCoreOptions, 'random'> {
  /** The work this participant commits or aborts. */
  readonly resource: Resource
  /**
   * How long `resource.prepare` may run before it counts as a `no` vote (the resource's deadline).
   * Not the coordinator's `prepareTimeoutMs`, how long it waits for every vote: keep this one
   * below that, or the coordinator gives up before the resource does.
   * @default 5000
   * @example
   * ```ts
   * new Participant({ id: 'bank-a', transport, log, resource, resourcePrepareTimeoutMs: 2000 })
   * ```
   */
  readonly resourcePrepareTimeoutMs?: number
  /**
   * The former name of {@link ParticipantOptions.resourcePrepareTimeoutMs}, with the same meaning.
   * Giving both is an error.
   * @deprecated Use `resourcePrepareTimeoutMs`: this name was easy to confuse with the
   * coordinator's `prepareTimeoutMs` (its deadline for the votes).
   */
  readonly prepareTimeoutMs?: number
}

/** The resource threw (or timed out); phase-2 calls are retried until they succeed. */
export interface ResourceErrorEvent {
  readonly type: 'resource-error'
  readonly txId: TxId
  readonly operation: ResourceRequest['type']
  readonly error: unknown
}

/** Events of a {@link Participant}. */
export type ParticipantEvents = EventMap<
  ParticipantCoreEvent | InvalidMessageEvent | ResourceErrorEvent | SendFailedEvent
> & {
  /** The log failed; the node stopped. Restart it to recover. */
  halted: [TwopcError]
}

/** An in-doubt transaction as the operator sees it. */
export interface InDoubtEntry extends InDoubtTransaction {
  /** When this participant voted yes (or found it in doubt at restart), by the node's clock. */
  readonly since: number
  /** How long it has been in doubt, in milliseconds. */
  readonly ageMs: number
}

/** The deadline kind of an asynchronous `resource.prepare` (`resourcePrepareTimeoutMs`). */
const RESOURCE_PREPARE = 'resource-prepare'

/** `resourcePrepareTimeoutMs`, or its deprecated alias `prepareTimeoutMs`, validated; not both. */
function resourcePrepareTimeoutMs(options: ParticipantOptions): number {
  const { resourcePrepareTimeoutMs: value, prepareTimeoutMs: alias } = options
  if (value !== undefined && alias !== undefined) {
    throw new TwopcError(
      'INVALID_OPTIONS',
      'Expected only one of `resourcePrepareTimeoutMs` and its deprecated alias `prepareTimeoutMs`, got both',
    )
  }
  if (alias !== undefined) return positiveDuration('prepareTimeoutMs', alias, 5000)
  return positiveDuration('resourcePrepareTimeoutMs', value, 5000)
}

/** Wraps whatever a resource threw, so that p-retry retries it (it gives up on a bare TypeError). */
class ResourceFailure extends Error {}

/**
 * Holds one share of the work: prepares it through the {@link Resource}, votes, and applies the
 * outcome — retrying phase 2 until it succeeds, and asking the coordinator and its peers when it
 * is in doubt.
 *
 * @example
 * ```ts
 * const bank = new Participant({ id: 'bank-a', transport: net.connect('bank-a'), log: new MemoryLog(), resource })
 * await bank.start()
 * ```
 */
export class Participant extends EventEmitter<ParticipantEvents> {
  private readonly core: ParticipantCore
  private readonly runtime: NodeRuntime<ParticipantCoreEvent | ResourceErrorEvent>
  private readonly resource: Resource
  private readonly clock: Required<EdgeOptions>['clock']
  private readonly resourcePrepareTimeoutMs: number
  private readonly retry: { readonly minTimeout: number; readonly maxTimeout: number }
  /**
   * The phase-2 retry loops in progress, each with its own signal, which close() aborts. (One signal
   * shared by every loop gathered a listener per loop, and Node warns of a leak past ten: found by
   * review, while a database was down.)
   */
  private readonly retrying = new Set<AbortController>()
  private readonly inDoubtSince = new Map<TxId, number>()
  /** The adaptive timeout of its decision requests. */
  private readonly roundTrips: RoundTrips

  /** @throws TwopcError `INVALID_OPTIONS` naming the option, the value and what was expected. */
  constructor(options: ParticipantOptions) {
    super()
    const edges = resolveEdges(options)
    this.resource = validateResource(options.resource)
    this.clock = edges.clock
    this.core = new ParticipantCore({ ...options, random: edges.random })
    this.resourcePrepareTimeoutMs = resourcePrepareTimeoutMs(options)
    this.retry = {
      minTimeout: positiveDuration('retransmitIntervalMs', options.retransmitIntervalMs, 1000),
      maxTimeout: positiveDuration('retransmitIntervalMsMax', options.retransmitIntervalMsMax, 5000),
    }
    const core = this.core
    this.roundTrips = new RoundTrips(
      PARTICIPANT_ROUND_TRIPS,
      edges.clock,
      core.settings.retransmitIntervalMsMax,
    )
    this.runtime = new NodeRuntime<ParticipantCoreEvent | ResourceErrorEvent>(
      {
        recover: (records) => core.recover(records),
        stepMessage: (message) => core.step({ type: 'message', message }),
        stepTimer: (txId, timer) => core.step({ type: 'timer', txId, timer }),
      },
      edges,
      {
        event: (event) => this.onEvent(event),
        request: (request) => this.run(request),
        halted: (error) => this.emit('halted', error),
        sendFailed: (event) => this.onEvent(event),
      },
      this.roundTrips,
    )
  }

  /** This participant's node id. */
  get id(): NodeId {
    return this.core.id
  }

  /**
   * Loads the log: in-doubt transactions start asking for their outcome, decided ones are
   * re-applied. Call once. Rejects with `CLOSED` if `close()` is called before it finishes.
   */
  start(): Promise<void> {
    return this.runtime.start()
  }

  /**
   * Transactions voted yes on with no outcome yet: the ones an operator may have to look at.
   * @throws TwopcError `NODE_HALTED` once the node halted: its memory may hold a vote whose
   * `prepared` record never reached the log (restart it, or read the log with `twopc inspect`)
   */
  inDoubt(): InDoubtEntry[] {
    this.runtime.assertNotHalted()
    const now = this.clock.now()
    return this.core.inDoubt().map((entry) => {
      const since = this.inDoubtSince.get(entry.txId) ?? now
      return { ...entry, since, ageMs: now - since }
    })
  }

  /**
   * Resolves an in-doubt transaction by hand — a **heuristic** decision, for when the coordinator
   * is gone for good and the resource's locks cannot wait. The outcome is recorded durably with
   * `reason` and applied through the resource. The participant keeps asking the coordinator; if
   * the real decision differs, both sides emit `heuristic-mismatch` and the coordinator's
   * `status(txId)` lists this participant. twopc never does this on its own.
   *
   * Resolves once the heuristic outcome is durable.
   * @throws TwopcError `INVALID_REQUEST` if the transaction is not in doubt here or `reason` is empty.
   */
  async resolveManually(txId: TxId, decision: Decision, options: { readonly reason: string }): Promise<void> {
    this.runtime.assertRunning()
    if (decision !== 'commit' && decision !== 'abort') {
      throw new TwopcError(
        'INVALID_REQUEST',
        `Expected \`decision\` to be 'commit' or 'abort', got ${String(decision)}`,
      )
    }
    const ready = this.core.step({ type: 'resolve-manually', txId, decision, reason: options?.reason })
    const durable = new Promise<void>((resolve, reject) => {
      const onDecided = (event: { txId: TxId }) => {
        if (event.txId !== txId) return
        this.off('decided', onDecided)
        this.off('halted', reject)
        resolve()
      }
      this.on('decided', onDecided)
      this.once('halted', reject)
    })
    this.runtime.execute(ready)
    return durable
  }

  /** Counters, the same shape as the coordinator's. */
  stats(): NodeStats {
    return this.runtime.counters.snapshot(this.core.inFlight, this.core.inDoubt().length)
  }

  /** Stops the node and any phase-2 retries in progress. Durable state stays in the log. */
  async close(): Promise<void> {
    for (const loop of this.retrying) loop.abort()
    await this.runtime.close()
  }

  private onEvent(
    event: ParticipantCoreEvent | ResourceErrorEvent | InvalidMessageEvent | SendFailedEvent,
  ): void {
    if ((event.type === 'voted' && event.vote === 'yes') || event.type === 'in-doubt') {
      if (!this.inDoubtSince.has(event.txId)) this.inDoubtSince.set(event.txId, this.clock.now())
    } else if (event.type === 'decided') {
      this.inDoubtSince.delete(event.txId)
      this.roundTrips.finished(event.txId)
    }
    ;(this.emit as (type: string, event: unknown) => boolean)(event.type, event)
  }

  /**
   * Runs a resource request. A resource that answers synchronously (a plain vote, or `commit` /
   * `abort` returning without a promise) is stepped at once, with no deadline timer, promise race
   * or retry machinery (issue 14); a promise gets the deadline (prepare) or the retries (phase 2).
   */
  private run(request: ResourceRequest): void {
    const { tx } = request
    const operation = request.type
    let first: unknown
    try {
      first = this.resource[operation](tx)
    } catch (error) {
      first = Promise.reject(error)
    }
    if (!isThenable(first)) {
      if (operation !== 'prepare') return this.applied(tx.txId)
      return this.voted(tx.txId, this.checkVote(tx.txId, first))
    }
    if (operation === 'prepare') return this.awaitVote(tx.txId, first)
    if (this.runtime.lifecycle === 'closed') return // the log re-applies the outcome at the next start
    const loop = new AbortController()
    this.retrying.add(loop)
    pRetry(
      async (attempt) => {
        try {
          await (attempt === 1 ? first : this.resource[operation](tx))
        } catch (error) {
          throw new ResourceFailure('resource failed', { cause: error })
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        ...this.retry,
        signal: loop.signal,
        onFailedAttempt: ({ error }) => this.reportResourceError(tx.txId, operation, error.cause ?? error),
      },
    ).then(
      () => {
        this.retrying.delete(loop)
        this.applied(tx.txId)
      },
      // Only a close() stops the retries; the log re-applies the outcome at the next start.
      () => this.retrying.delete(loop),
    )
  }

  /** The resource applied the outcome of `txId`. */
  private applied(txId: TxId): void {
    this.runtime.execute(this.core.step({ type: 'applied', txId }))
  }

  /** The resource voted on `txId`. */
  private voted(txId: TxId, vote: Vote): void {
    this.runtime.execute(this.core.step({ type: 'prepare-result', txId, vote }))
  }

  /** A vote the resource gave, or `no` (reported) if it is not one. */
  private checkVote(txId: TxId, vote: unknown): Vote {
    if (VOTES.includes(vote as Vote)) return vote as Vote
    const error = new Error(`resource.prepare returned ${String(vote)}, expected 'yes', 'no' or 'read-only'`)
    this.reportResourceError(txId, 'prepare', error)
    return 'no'
  }

  /**
   * Waits for a `prepare` in progress (`answer`) until `resourcePrepareTimeoutMs` — a deadline of the
   * node's, not a timer of its own — then steps the vote; a throw, a timeout or an invalid answer is
   * `no`. Only the first of answer and deadline counts. (One small closure context per call: this
   * is what an asynchronous resource costs per transaction in flight.)
   */
  private awaitVote(txId: TxId, answer: PromiseLike<unknown>): void {
    let settled = false
    const settle = (vote: unknown, error?: unknown) => {
      if (settled) return
      settled = true
      this.runtime.deadlines.clear(RESOURCE_PREPARE, txId)
      if (error !== undefined) this.reportResourceError(txId, 'prepare', error)
      this.voted(txId, error === undefined ? this.checkVote(txId, vote) : 'no')
    }
    this.runtime.deadlines.set(RESOURCE_PREPARE, txId, this.resourcePrepareTimeoutMs, () =>
      settle(
        'no',
        new Error(
          `resource.prepare took longer than resourcePrepareTimeoutMs (${this.resourcePrepareTimeoutMs})`,
        ),
      ),
    )
    try {
      answer.then(settle, (error: unknown) => settle('no', error ?? new Error('resource.prepare rejected')))
    } catch (error) {
      settle('no', error) // a thenable whose `then` throws
    }
  }

  private reportResourceError(txId: TxId, operation: ResourceRequest['type'], error: unknown): void {
    this.onEvent({ type: 'resource-error', txId, operation, error })
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}
