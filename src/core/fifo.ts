/** Taken items are dropped from the front of the array in one go once there are this many (and they are half of it). */
const COMPACT_AFTER = 1024

/**
 * A first-in, first-out queue: an array read from a moving head, compacted in one go once the
 * taken prefix dominates, so that every operation but {@link removeFirst} and {@link retain} costs
 * O(1) amortized (`Array.prototype.shift` moves the whole array, which a queue of thousands feels).
 * Shared by the runtime's ready queue, the coordinator's admission queue, the transports' peer
 * queues and the cores' bounded maps.
 */
export class Fifo<T> {
  /** Items from {@link head} on are queued; the slots before it are cleared so they can be collected. */
  private items: (T | undefined)[] = []
  private head = 0

  /** Items queued. */
  get size(): number {
    return this.items.length - this.head
  }

  /** Queues `item` last. */
  push(item: T): void {
    this.items.push(item)
  }

  /** The oldest item, left in the queue; `undefined` when empty. */
  peek(): T | undefined {
    return this.items[this.head]
  }

  /** Removes and returns the oldest item; `undefined` when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head += 1
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** Removes the oldest item that `matches` (O(n): for the rare removal out of order); true if one was. */
  removeFirst(matches: (item: T) => boolean): boolean {
    for (let at = this.head; at < this.items.length; at++) {
      if (!matches(this.items[at] as T)) continue
      if (at === this.head) this.shift()
      else this.items.splice(at, 1)
      return true
    }
    return false
  }

  /** The item `offset` places after the oldest (`at(0)` is {@link peek}); `undefined` past the last. */
  at(offset: number): T | undefined {
    return offset >= 0 && offset < this.size ? this.items[this.head + offset] : undefined
  }

  /** Keeps only the items for which `keep` is true, in order (O(n)). */
  retain(keep: (item: T) => boolean): void {
    this.items = this.toArray().filter(keep)
    this.head = 0
  }

  /** The items, oldest first (a copy). */
  toArray(): T[] {
    return this.items.slice(this.head) as T[]
  }

  /** Empties the queue. */
  clear(): void {
    this.items = []
    this.head = 0
  }
}
