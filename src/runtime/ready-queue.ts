import { Fifo } from '../core/fifo.js'

/**
 * One queued item and whether its forced records are durable: what {@link ReadyQueue.push} returns,
 * for the caller to hand to {@link ReadyQueue.markQueuedDurable} once they are.
 */
export interface QueuedItem<T> {
  readonly item: T
  readonly durable: boolean
}

/** A {@link QueuedItem} as the queue changes it. */
interface Entry<T> {
  readonly item: T
  durable: boolean
}

/**
 * The order that makes "persist before send" hold (DESIGN.md §1): the effects of each `Ready` run in
 * the order the `Ready`s were produced, and none runs before its forced records are durable — nor
 * before every earlier `Ready`'s effects ran. The runtime (`NodeRuntime`), the simulators and the
 * model checker all release `Ready`s through this one class, so what the checkers verify about this
 * order is what runs in production.
 *
 * `T` is whatever the caller keeps per `Ready` (the `Ready` itself in the runtime; what is left to
 * do of it in the simulators). Every operation but {@link markDurable} costs O(1) amortized: the
 * queue is a `Fifo`, and the runtime marks an entry durable through the {@link QueuedItem} that
 * `push` returned. (No map from items to entries: a `Map` that every step adds to and deletes from
 * keeps, each time V8 rehashes it, its old table alive until the next full collection — and with
 * it every `Ready` the table held, with its records and messages. Measured in issue 14: a quarter
 * of the runtime's CPU per transaction went to scavenging what such tables kept alive.)
 */
export class ReadyQueue<T> {
  /** The entries, oldest first. */
  private readonly entries = new Fifo<Entry<T>>()

  /** Queues `item`; `durable` is false while its forced records are not durable yet. */
  push(item: T, durable: boolean): QueuedItem<T> {
    const entry = { item, durable }
    this.entries.push(entry)
    return entry
  }

  /**
   * The log acknowledged the append of `queued`'s forced records (what {@link push} returned for
   * it): they are durable. O(1). Logs acknowledge appends in order, but each one is marked on its
   * own: an acknowledgement says nothing about a later append. An entry no longer queued (released,
   * or dropped by {@link clear}) is left alone.
   */
  markQueuedDurable(queued: QueuedItem<T>): void {
    ;(queued as Entry<T>).durable = true
  }

  /**
   * {@link markQueuedDurable} for the oldest entry of `item` still waiting, found by walking the
   * queue from its oldest entry (O(n): for tests and simulators, which hold few).
   */
  markDurable(item: T): void {
    const entries = this.entries
    for (let i = 0; i < entries.size; i++) {
      const entry = entries.at(i) as Entry<T>
      if (entry.item === item && !entry.durable) {
        entry.durable = true
        return
      }
    }
  }

  /** The oldest entry, if its effects may run now (every earlier one ran, and it is durable). */
  get releasable(): T | undefined {
    const head = this.entries.peek()
    return head?.durable ? head.item : undefined
  }

  /** Removes `item`, the one {@link releasable} returned: its effects run now. */
  done(item: T): void {
    if (this.entries.peek()?.item === item) {
      this.entries.shift()
      return
    }
    this.entries.removeFirst((entry) => entry.item === item)
  }

  /** The entries in order, oldest first. */
  get items(): readonly T[] {
    return this.queued().map((entry) => entry.item)
  }

  /** Number of entries. */
  get size(): number {
    return this.entries.size
  }

  /** Drops every entry (a crash, or `close()`). */
  clear(): void {
    this.entries.clear()
  }

  /** An independent copy, with each entry copied by `copy` (the model checker branches on it). */
  clone(copy: (item: T) => T): ReadyQueue<T> {
    const clone = new (this.constructor as new () => ReadyQueue<T>)()
    for (const entry of this.queued()) clone.push(copy(entry.item), entry.durable)
    return clone
  }

  /** The queued entries, oldest first, with whether each is durable. */
  protected queued(): QueuedItem<T>[] {
    return this.entries.toArray()
  }
}
