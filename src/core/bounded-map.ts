/**
 * A Map that keeps at most `limit` entries, evicting the oldest insertion first.
 * Used for what a node remembers about finished transactions, so that memory stays bounded
 * under steady load (STYLE: a limit on everything).
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(private readonly limit: number) {}

  /** Inserts or refreshes `key`; returns the value evicted to stay within the limit, if any. */
  set(key: K, value: V): V | undefined {
    this.entries.delete(key)
    this.entries.set(key, value)
    if (this.entries.size <= this.limit) return undefined
    // The first key in insertion order is the oldest (read without destructuring an entry pair).
    const oldest = this.entries.keys().next().value as K
    const evicted = this.entries.get(oldest)
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
