import { TwopcError } from '../core/errors.js'
import { type Message, parseMessage } from '../core/messages.js'
import type { Ready, ResourceRequest, TimerEffect, TimerKind } from '../core/ready.js'
import { type LogRecord, parseRecord } from '../core/records.js'
import type { TxId } from '../core/types.js'
import { describe, SEALED_DELIVERY, sealBuilt } from '../core/validate.js'
import { Deadlines } from './deadlines.js'
import type { Clock, DurableLog, Transport } from './interfaces.js'
import { type QueuedItem, ReadyQueue } from './ready-queue.js'
import type { RoundTrips } from './round-trips.js'
import { Counters } from './stats.js'

/** The part of a core the runtime drives; both cores fit it. */
export interface DrivenCore<Event> {
  recover(records: readonly LogRecord[]): Ready<Event>
  stepMessage(message: Message): Ready<Event>
  stepTimer(txId: TxId, timer: TimerKind): Ready<Event>
}

/** What a node class does with the effects the driver hands back. */
export interface NodeHooks<Event> {
  event(event: Event): void
  request(request: ResourceRequest): void
  /** The node halted (failed append, corrupt log): reject whatever is pending. Called once. */
  halted(error: TwopcError): void
  /** `transport.send` threw or rejected; the `sendFailures` counter already counts it. */
  sendFailed?(event: SendFailedEvent): void
}

/** Where a node is in its life. */
export type NodeState = 'new' | 'starting' | 'running' | 'halted' | 'closed'

/** The `message-dropped` event for a message that failed validation. */
export interface InvalidMessageEvent {
  readonly type: 'message-dropped'
  readonly reason: 'invalid'
  readonly message: unknown
  readonly error: TwopcError
}

/**
 * The `send-failed` event: the transport's `send` threw (`thrown: true`: the transport refused the
 * message outright, e.g. `INVALID_MESSAGE` for a recipient missing from its `peers` or a message
 * over its size limit) or its promise rejected. The protocol retransmits what matters, so one
 * failure loses nothing; a failure that repeats on every retransmission is a configuration error.
 */
export interface SendFailedEvent {
  readonly type: 'send-failed'
  /** The message that was not sent. */
  readonly message: Message
  /** What `send` threw or rejected with. */
  readonly error: unknown
  /** True if `send` threw synchronously, false if its promise rejected. */
  readonly thrown: boolean
}

/** The deadline kind of the lazy records' flush (the others are the cores' timer kinds). */
const LAZY_FLUSH = 'lazy-flush'

/** How long lazy records wait for a forced append to ride with before they are appended alone. */
const LAZY_FLUSH_MS = 50

/**
 * Runs one node: loads and recovers its log, feeds it messages and timers, and executes every
 * `Ready` in the order that makes the protocol safe. This is the only place a `Ready` is
 * executed, so "persist before send" holds by construction:
 *
 * 1. batch the records: every forced record produced in one turn (the inputs stepped in one
 *   callback — the frames of one socket read, the timers due at once, one delivery of the in-memory
 *   network, `commit()` calls made together — and the microtasks they queue) goes to the log in
 *   **one append** at the end of the turn ({@link Clock.nextTurn}); lazy records (`forceRecords`
 *   false) ride with the next such append, so they never cost a sync of their own while the node
 *   is busy (after 50 ms idle they are appended alone, and at `close()`). Appends made while the
 *   log is writing share its next sync (group commit);
 * 2. release each `Ready` through the {@link ReadyQueue} — once its forced records are durable and
 *   every earlier `Ready`'s effects ran (the same queue the simulators and the model checker use);
 *   a batch's `Ready`s are released together, so their messages leave in one turn (a transport that
 *   coalesces a turn's messages per peer, as `TcpTransport` does, sends them in one write);
 * 3. send, then arm timers, then start resource requests, then emit events.
 */
export class NodeRuntime<Event extends { readonly type: string }> {
  readonly counters = new Counters()
  private state: NodeState = 'new'
  /** Whether the node ever halted: it stays untrustworthy after a close() too (see `assertNotHalted`). */
  private haltedOnce = false
  /** Settles when the log load started by `start()` has finished, either way. */
  private loading: Promise<void> = Promise.resolve()
  private readonly queue = new ReadyQueue<Ready<Event>>()
  /** Appends not settled yet (`close()` waits for them). */
  private readonly appends = new Set<Promise<void>>()
  private pumpScheduled = false
  /** Every timer of the node, on one clock timer (the node class sets its own deadlines here too). */
  readonly deadlines: Deadlines
  /** Lazy records waiting to ride with the next forced append. */
  private lazy: LogRecord[] = []
  /** Whether the transport takes sealed messages (see `SEALED_DELIVERY`). */
  private readonly sealMessages: boolean
  /** This turn's append: its records and the `Ready`s waiting for them (`undefined` when none is open). */
  private batch: { readonly records: LogRecord[]; readonly waiting: QueuedItem<Ready<Event>>[] } | undefined

  /**
   * @param roundTrips - times the node's requests and their answers; its resend timer then waits
   *   at least the measured timeout (the adaptive retransmission timeout)
   */
  constructor(
    private readonly core: DrivenCore<Event>,
    private readonly io: { readonly transport: Transport; readonly log: DurableLog; readonly clock: Clock },
    private readonly hooks: NodeHooks<Event | InvalidMessageEvent>,
    private readonly roundTrips: RoundTrips,
  ) {
    this.deadlines = new Deadlines(io.clock)
    this.sealMessages = SEALED_DELIVERY in io.transport
  }

  /** The node's lifecycle state. */
  get lifecycle(): NodeState {
    return this.state
  }

  /** Loads the log, recovers, resumes pending work, then starts receiving. */
  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new TwopcError('INVALID_REQUEST', `start() called on a node that is ${this.state}`)
    this.state = 'starting'
    const loading = this.io.log.load()
    this.loading = loading.then(
      () => {},
      () => {},
    )
    let records: LogRecord[]
    try {
      records = await loading
    } catch (error) {
      this.state = 'closed'
      throw error
    }
    // close() was called while the log loaded: stay closed (close() releases the log).
    if (this.state !== 'starting')
      throw new TwopcError(
        'CLOSED',
        'close() was called while start() was loading the log; the node did not start',
      )
    let recovered: Ready<Event>
    try {
      // A custom log resolving something else than an array is refused by name (found by review).
      if (!Array.isArray(records))
        throw new TwopcError(
          'INVALID_RECORD',
          `Expected log.load() to resolve to an array of records, got ${describe(records)}`,
        )
      recovered = this.core.recover(records.map(parseRecord))
    } catch (error) {
      // A log this node cannot start from (a corrupt record, another node's log): the node never
      // ran, so it is closed and lets go of the log (its lock) and the transport. The start error
      // says what is wrong; it is the one the caller gets even if releasing fails too.
      this.state = 'closed'
      await this.release().catch(() => {})
      throw error
    }
    this.state = 'running'
    this.execute(recovered)
    // The recovery's records (the new life's incarnation) are handed to the log now, not at the end
    // of the turn: start() is a turn of its own.
    this.appendBatch()
    this.io.transport.onMessage((raw) => this.receive(raw))
  }

  /** Throws unless the node is running: `NOT_STARTED`, `NODE_HALTED` or `CLOSED`. */
  assertRunning(): void {
    if (this.state === 'running') return
    if (this.state === 'halted')
      throw new TwopcError('NODE_HALTED', 'The node halted after a log failure; restart it')
    if (this.state === 'closed') throw new TwopcError('CLOSED', 'The node is closed')
    throw new TwopcError('NOT_STARTED', 'Call start() and wait for it before using the node')
  }

  /**
   * Throws `NODE_HALTED` once the node halted, closed since or not: what it holds in memory may
   * include a decision or a vote whose record never reached the log, so its answers about
   * transactions are not to be trusted (found by review: a commit whose record failed to append
   * showed as `committing`).
   */
  assertNotHalted(): void {
    if (this.haltedOnce) {
      throw new TwopcError(
        'NODE_HALTED',
        'The node halted after a log failure: what it holds in memory may not be in its log. ' +
          'Restart it, or read its log with `twopc inspect`',
      )
    }
  }

  /** Executes a `Ready` produced by the node class (for inputs other than messages and timers). */
  execute(ready: Ready<Event>): void {
    if (this.state !== 'running') return
    const { records } = ready
    for (let i = 0; i < records.length; i++) sealBuilt(records[i] as LogRecord, false)
    const forced = ready.forceRecords && records.length > 0
    const queued = this.queue.push(ready, !forced)
    this.counters.recordsAppended += records.length
    if (forced) {
      this.counters.forcedAppends += 1
      this.openBatch().waiting.push(queued)
    }
    if (records.length > 0) {
      if (this.batch !== undefined) this.batch.records.push(...records)
      else {
        if (this.lazy.length === 0) this.deadlines.set(LAZY_FLUSH, '', LAZY_FLUSH_MS, this.flushLazy)
        this.lazy.push(...records)
      }
    }
    this.schedulePump()
  }

  /** This turn's append, opened (with the lazy records waiting, which ride with it) if needed. */
  private openBatch(): { readonly records: LogRecord[]; readonly waiting: QueuedItem<Ready<Event>>[] } {
    if (this.batch !== undefined) return this.batch
    this.deadlines.clear(LAZY_FLUSH, '')
    const batch = { records: this.lazy.splice(0), waiting: [] }
    this.batch = batch
    if (this.io.clock.nextTurn !== undefined) this.io.clock.nextTurn(this.appendBatch)
    else queueMicrotask(this.appendBatch)
    return batch
  }

  /** The turn ended: this turn's records go to the log in one append. */
  private readonly appendBatch = (): void => {
    const batch = this.batch
    this.batch = undefined
    if (batch === undefined || this.state !== 'running') return
    this.appendNow(batch.records, batch.waiting)
  }

  /** Appends `records`; once durable, releases the `Ready`s that wait for them. */
  private appendNow(records: readonly LogRecord[], waiting: readonly QueuedItem<Ready<Event>>[] = []): void {
    this.counters.logAppends += 1
    const appended = this.append(records)
    this.appends.add(appended)
    const ended = this.endedIn(records)
    appended.then(
      () => {
        this.appends.delete(appended)
        if (waiting.length > 0) {
          for (let i = 0; i < waiting.length; i++)
            this.queue.markQueuedDurable(waiting[i] as QueuedItem<Ready<Event>>)
          this.schedulePump()
        }
        // Once the `Ready`s released above have run (their pump is queued first): the log's
        // bookkeeping does not delay the messages that waited for this append (5 µs a transaction
        // at C=1 with FileLog, whose forget writes a note and may arm its timer).
        if (ended !== undefined) queueMicrotask(() => this.forget(ended))
      },
      (error: unknown) => {
        this.appends.delete(appended)
        this.halt(error)
      },
    )
  }

  /** What a core timer does when it fires, by kind: one function each, shared by every transaction. */
  private readonly timerFired: Record<TimerKind, (txId: TxId) => void> = {
    'prepare-timeout': (txId) => this.fireTimer(txId, 'prepare-timeout'),
    retransmit: (txId) => this.fireTimer(txId, 'retransmit'),
    'decision-request': (txId) => this.fireTimer(txId, 'decision-request'),
  }

  private fireTimer(txId: TxId, timer: TimerKind): void {
    if (this.state === 'running') this.execute(this.core.stepTimer(txId, timer))
  }

  /** No forced append came for a while: the lazy records go on their own. */
  private readonly flushLazy = (): void => {
    if (this.state === 'running' && this.lazy.length > 0) this.appendNow(this.lazy.splice(0))
  }

  /** Stops timers and the transport, waits for effects in progress, closes the log. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    const was = this.state
    this.state = 'closed'
    this.deadlines.clearAll()
    // Records still waiting (lazy ones, and this turn's batch, whose effects never ran) are handed
    // to the log, best effort and not awaited: they need not be durable (a log's own close() writes
    // what it accepted).
    const waiting = [...(this.batch?.records ?? []), ...this.lazy.splice(0)]
    this.batch = undefined
    if (was === 'running' && waiting.length > 0) this.append(waiting).catch(() => {})
    if (was === 'new') return
    // Closing while starting: let the load finish (start() then rejects with CLOSED), then release.
    if (was === 'starting') await this.loading
    await this.release()
  }

  /** Closes the transport, waits for appends in progress, closes the log. */
  private async release(): Promise<void> {
    await this.io.transport.close?.()
    await Promise.allSettled([...this.appends])
    await this.io.log.close?.()
  }

  private receive(raw: unknown): void {
    if (this.state !== 'running') return
    let message: Message
    try {
      message = parseMessage(raw)
    } catch (error) {
      this.counters.messagesDropped += 1
      this.hooks.event({
        type: 'message-dropped',
        reason: 'invalid',
        message: raw,
        error: error as TwopcError,
      })
      return
    }
    this.counters.messagesReceived += 1
    this.roundTrips.received(message)
    this.execute(this.core.stepMessage(message))
  }

  private append(records: readonly LogRecord[]): Promise<void> {
    try {
      return this.io.log.append(records)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The transactions whose `end` record is among `records`, if the log can forget; else `undefined`. */
  private endedIn(records: readonly LogRecord[]): TxId[] | undefined {
    if (this.io.log.forget === undefined) return undefined
    const ended: TxId[] = []
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as LogRecord
      if (record.type === 'end') ended.push(record.txId)
    }
    return ended.length > 0 ? ended : undefined
  }

  /** After their `end` records are durable, tells the log it may drop these transactions. */
  private forget(txIds: TxId[]): void {
    // Only a hint: a log that fails to compact loses nothing, so its errors are ignored.
    try {
      const forgotten = this.io.log.forget?.(txIds)
      if (forgotten !== undefined) forgotten.catch(() => {})
    } catch {}
  }

  /** Runs the released `Ready`s in a microtask: effects never run inside the step that produced them. */
  private schedulePump(): void {
    if (this.pumpScheduled) return
    this.pumpScheduled = true
    queueMicrotask(this.pump)
  }

  /** Runs every released `Ready`, in order (one function for the node's life, not a closure per pump). */
  private readonly pump = (): void => {
    this.pumpScheduled = false
    for (let ready = this.queue.releasable; ready !== undefined; ready = this.queue.releasable) {
      this.queue.done(ready)
      this.apply(ready)
    }
  }

  // Indexed loops: on this path (every step of every node) `for…of` allocated an iterator result
  // per element, about a tenth of what the library allocates per transaction.
  private apply(ready: Ready<Event>): void {
    if (this.state !== 'running') return
    const { messages, timers, requests, events } = ready
    for (let i = 0; i < messages.length; i++) this.send(messages[i] as Message)
    for (let i = 0; i < timers.length; i++) {
      const effect = timers[i] as TimerEffect
      const { txId, timer } = effect
      if (effect.type === 'clear-timer') {
        this.deadlines.clear(timer, txId)
        continue
      }
      const delayMs =
        timer === this.roundTrips.role.timer
          ? Math.max(effect.delayMs, this.roundTrips.timeoutMs)
          : effect.delayMs
      this.deadlines.set(timer, txId, delayMs, this.timerFired[timer])
    }
    for (let i = 0; i < requests.length; i++) this.hooks.request(requests[i] as ResourceRequest)
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as Event
      if (event.type === 'message-dropped') this.counters.messagesDropped += 1
      this.hooks.event(event)
    }
  }

  private send(built: Message): void {
    const message = this.sealMessages ? sealBuilt(built, true) : built
    this.counters.messagesSent[message.type] += 1
    this.roundTrips.sent(message)
    try {
      const sent = this.io.transport.send(message)
      if (sent !== undefined) sent.catch((error: unknown) => this.sendFailed(message, error, false))
    } catch (error) {
      this.sendFailed(message, error, true)
    }
  }

  /** Counts a failed send and reports it to the node class. */
  private sendFailed(message: Message, error: unknown, thrown: boolean): void {
    this.counters.sendFailures += 1
    if (this.state === 'running') this.hooks.sendFailed?.({ type: 'send-failed', message, error, thrown })
  }

  private halt(cause: unknown): void {
    if (this.state !== 'running') return
    this.state = 'halted'
    this.haltedOnce = true
    this.queue.clear()
    this.lazy = []
    this.batch = undefined
    this.deadlines.clearAll()
    const message = cause instanceof Error ? cause.message : String(cause)
    this.hooks.halted(
      new TwopcError(
        'NODE_HALTED',
        `The log failed, so the node halted (restart it to recover): ${message}`,
        {
          cause,
        },
      ),
    )
  }
}
