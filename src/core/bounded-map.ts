import { Fifo } from './fifo.js'

/**
 * A Map that keeps at most `limit` entries, evicting the one inserted first. Used for what a node
 * remembers about finished transactions, so that memory stays bounded under steady load (STYLE: a
 * limit on everything).
 *
 * The insertion order is kept in a {@link Fifo} of keys rather than read from the Map: V8 leaves a
 * deleted entry in a Map's table until it rehashes, and reading the first key walks over every one
 * of them, so evicting the oldest of 100,000 entries that way cost a scan of up to as many holes.
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>()
  /** The keys of {@link entries}, oldest first. */
  private readonly order = new Fifo<K>()

  constructor(private readonly limit: number) {}

  /**
   * Inserts `key`, or replaces its value (keeping its place in the order); returns the value
   * evicted to stay within the limit, if any.
   */
  set(key: K, value: V): V | undefined {
    return this.put(key, value, true)
  }

  /**
   * {@link set} for a caller that has no use for the evicted value: the eviction does not read it —
   * one lookup fewer in a table of up to `limit` entries, where the oldest are the least likely to
   * be in the CPU's caches.
   */
  insert(key: K, value: V): void {
    this.put(key, value, false)
  }

  private put(key: K, value: V, readEvicted: boolean): V | undefined {
    const size = this.entries.size
    this.entries.set(key, value)
    if (this.entries.size === size) return undefined // replaced: the key keeps its place
    this.order.push(key)
    if (this.entries.size <= this.limit) return undefined
    const oldest = this.order.shift() as K
    const evicted = readEvicted ? this.entries.get(oldest) : undefined
    this.entries.delete(oldest)
    return evicted
  }

  /** The value for `key`, if remembered. */
  get(key: K): V | undefined {
    return this.entries.get(key)
  }

  /** Number of entries. */
  get size(): number {
    return this.entries.size
  }
}
