import type { Message } from '../core/messages.js'
import type { LogRecord } from '../core/records.js'
import type { TransactionInfo, TxId, Vote } from '../core/types.js'

/**
 * Carries messages between nodes. Best effort: it may lose, duplicate, delay or reorder
 * messages — also across restarts: a message sent to one life of a node may be delivered to a
 * later one (a queue redelivering after a consumer crash, a client retrying across the peer's
 * restart). The protocol retransmits what is lost, and binds every `prepare` to the life it was
 * meant for, so no copy can make a participant prepare or apply work twice. What it must not do:
 * alter a message, or deliver to an endpoint after its `close()`. Implement it over any medium and
 * check it with `runTransportConformance` from `twopc/testing`.
 */
export interface Transport {
  /**
   * Sends `message` to the node `message.to`. Called by the runtime only after the records the
   * message depends on are durable. May throw or reject on a transient failure; the runtime
   * counts it and relies on retransmission, so it need not retry.
   */
  send(message: Message): void | Promise<void>
  /**
   * Registers the single handler for inbound messages, called once per received message with the
   * decoded but unvalidated value; the runtime validates it with `parseMessage`.
   */
  onMessage(handler: (message: unknown) => void): void
  /** Stops sending and receiving. Optional. */
  close?(): void | Promise<void>
}

/**
 * A node's append-only durable log. Check an implementation with `runDurableLogConformance`
 * from `twopc/testing`.
 */
export interface DurableLog {
  /**
   * Appends `records` after every earlier append. Resolves only once these records, and every
   * record appended before them, are on stable storage. Rejecting means the durability of the
   * records is unknown: the runtime halts the node and never retries (a failed fsync may have
   * dropped the data).
   */
  append(records: readonly LogRecord[]): Promise<void>
  /**
   * Reads back every durable record in append order (minus forgotten ones). The node calls it at
   * start, before any append; a resource may read the same records before that (see
   * `PostgresResource.start`), so a second call must return the same records.
   */
  load(): Promise<LogRecord[]>
  /**
   * Hints that every record of these finished transactions may be dropped (after an `end`
   * record). Optional; a log may compact later, or never.
   */
  forget?(txIds: readonly TxId[]): void | Promise<void>
  /** Releases the log (file handles, locks). Optional. */
  close?(): void | Promise<void>
}

/**
 * A participant's piece of work. twopc calls `prepare` for a transaction, then exactly one of
 * `commit` or `abort` (possibly several times: after a restart, or when a call failed), never both.
 *
 * Once the participant has voted, `prepare` is never called for that transaction again, in this
 * life or a later one (protocol version 2: a `prepare` is bound to the participant's life). It may
 * be called again only if the participant crashed before its vote left — the first attempt was
 * never voted on, so undo it on start (as `PostgresResource` does) or make it idempotent.
 *
 * Each method may answer synchronously (a value) or with a promise. A synchronous answer is
 * stepped at once, without a deadline timer or retry machinery around it.
 */
export interface Resource {
  /**
   * Does the work so that it can later be committed or undone, durably, and votes.
   * `yes`: prepared; `no`: cannot commit; `read-only`: nothing to commit here.
   * A throw, an invalid answer or taking longer than the participant's `resourcePrepareTimeoutMs` counts as `no`.
   */
  prepare(tx: TransactionInfo): Vote | Promise<Vote>
  /** Makes the prepared work permanent. Must be idempotent; retried until it succeeds. */
  commit(tx: TransactionInfo): void | Promise<void>
  /**
   * Undoes the work (prepared or not). Must be idempotent; retried until it succeeds. It may be
   * called while `prepare` for the same transaction is still running (after `resourcePrepareTimeoutMs`),
   * so it must wait for, or make void, whatever that prepare is still doing.
   */
  abort(tx: TransactionInfo): void | Promise<void>
}

/** Time as the runtime sees it; inject a fake one for deterministic tests. */
export interface Clock {
  /** Milliseconds since some fixed origin. */
  now(): number
  /** Calls `callback` after `delayMs`; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, delayMs: number): unknown
  /** Cancels a pending `setTimeout`. */
  clearTimeout(handle: unknown): void
  /**
   * Calls `callback` once, after the inputs of the current turn have been handled: a node appends
   * each turn's records then, in one append. Optional: without it (as in the real clock) a turn
   * ends with a microtask — the inputs stepped in one callback (one socket read, the timers due at
   * once) share an append. A simulation that must control every callback provides it.
   */
  nextTurn?(callback: () => void): void
}

/** The real clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}
