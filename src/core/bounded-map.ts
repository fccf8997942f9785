/**
 * A Map that keeps at most `limit` entries, evicting the oldest insertion first.
 * Used for what a node remembers about finished transactions, so that memory stays bounded
 * under steady load (STYLE: a limit on everything).
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(private readonly limit: number) {}

  /** Inserts or refreshes `key`, evicting the oldest entry beyond the limit. */
  set(key: K, value: V): void {
    this.entries.delete(key)
    this.entries.set(key, value)
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
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
