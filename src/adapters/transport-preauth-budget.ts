/**
 * The inbound connections a network transport accepted that have not yet sent an authenticated
 * frame, bounded in total and per remote address, so a flood of idle or slow connections costs
 * bounded sockets and memory. Admitting one over a bound closes an older one, never the newcomer:
 *
 * - over the per-address bound, that address's oldest;
 * - over the total, the oldest of the address that holds the most.
 *
 * So a configured peer, which sends its first frame as soon as it connects and authenticates
 * within a round trip, is pushed out only by an attacker holding more than `maxTotal` addresses
 * (every address then holding one connection, the peer's too). Authenticated connections are
 * not counted here.
 */
export class PreAuthenticationBudget<Connection> {
  /** Every unauthenticated connection with its remote address; insertion order is age. */
  private readonly all = new Map<Connection, string>()
  private readonly byAddress = new Map<string, Set<Connection>>()

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Unauthenticated connections held now. */
  get size(): number {
    return this.all.size
  }

  /** Admits `connection` from `address`; returns the older connections the caller must close to make room. */
  admit(connection: Connection, address: string): Connection[] {
    this.all.set(connection, address)
    const fromAddress = this.byAddress.get(address) ?? new Set<Connection>()
    fromAddress.add(connection)
    this.byAddress.set(address, fromAddress)
    const evicted: Connection[] = []
    while (fromAddress.size > this.maxPerAddress) evicted.push(this.evict(fromAddress))
    while (this.all.size > this.maxTotal) evicted.push(this.evict(this.largestAddress()))
    return evicted
  }

  /** Forgets `connection` (it authenticated, or closed). Idempotent. */
  release(connection: Connection): void {
    const address = this.all.get(connection)
    if (address === undefined) return
    this.all.delete(connection)
    const fromAddress = this.byAddress.get(address)
    fromAddress?.delete(connection)
    if (fromAddress?.size === 0) this.byAddress.delete(address)
  }

  /** The connections of the address holding the most (the first such address on a tie), oldest first. */
  private largestAddress(): Set<Connection> {
    let largest: Set<Connection> | undefined
    for (const connections of this.byAddress.values()) {
      if (largest === undefined || connections.size > largest.size) largest = connections
    }
    return largest as Set<Connection>
  }

  /** Releases and returns the first of `oldestFirst`, which the caller knows is not empty. */
  private evict(oldestFirst: Iterable<Connection>): Connection {
    const oldest = oldestFirst[Symbol.iterator]().next().value as Connection
    this.release(oldest)
    return oldest
  }
}
