/**
 * The order that makes "persist before send" hold (DESIGN.md §1): the effects of each `Ready` run in
 * the order the `Ready`s were produced, and none runs before its forced records are durable — nor
 * before every earlier `Ready`'s effects ran. The runtime (`NodeRuntime`), the simulators and the
 * model checker all release `Ready`s through this one class, so what the checkers verify about this
 * order is what runs in production.
 *
 * `T` is whatever the caller keeps per `Ready` (the `Ready` itself in the runtime; what is left to
 * do of it in the simulators).
 */
export class ReadyQueue<T> {
  protected entries: { readonly item: T; durable: boolean }[] = []

  /** Queues `item`; `durable` is false while its forced records are not durable yet. */
  push(item: T, durable: boolean): void {
    this.entries.push({ item, durable })
  }

  /**
   * The log acknowledged the append of `item`'s forced records: they are durable. Logs acknowledge
   * appends in order, but each one is marked on its own: an acknowledgement says nothing about a
   * later append.
   */
  markDurable(item: T): void {
    const entry = this.entries.find((candidate) => candidate.item === item)
    if (entry !== undefined) entry.durable = true
  }

  /** The oldest entry, if its effects may run now (every earlier one ran, and it is durable). */
  get releasable(): T | undefined {
    const head = this.entries[0]
    return head?.durable ? head.item : undefined
  }

  /** Removes `item`, the one {@link releasable} returned: its effects run now. */
  done(item: T): void {
    const index = this.entries.findIndex((entry) => entry.item === item)
    if (index >= 0) this.entries.splice(index, 1)
  }

  /** The entries in order, oldest first. */
  get items(): readonly T[] {
    return this.entries.map((entry) => entry.item)
  }

  /** Number of entries. */
  get size(): number {
    return this.entries.length
  }

  /** Drops every entry (a crash, or `close()`). */
  clear(): void {
    this.entries = []
  }

  /** An independent copy, with each entry copied by `copy` (the model checker branches on it). */
  clone(copy: (item: T) => T): ReadyQueue<T> {
    const clone = new (this.constructor as new () => ReadyQueue<T>)()
    clone.entries = this.entries.map((entry) => ({ item: copy(entry.item), durable: entry.durable }))
    return clone
  }
}
