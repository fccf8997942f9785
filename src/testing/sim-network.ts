import type { Message } from '../core/messages.js'
import type { NodeId } from '../core/types.js'

/** A message on the simulated wire. */
export interface InFlightMessage {
  /** Unique per network, in sending order. */
  readonly id: number
  readonly message: Message
  /** `JSON.stringify(message)`: equal for identical copies, so traces and replays can name a message by content. */
  readonly key: string
  /** Simulated time it was sent. */
  readonly sentAt: number
  /** Simulated time it may be delivered; the scheduler sets it (delay, reordering). */
  deliverAt: number
  /** True when it answers a `decision-request` (for the probes). */
  readonly answer: boolean
}

/**
 * The simulated network: the messages in flight. Delivery, loss and duplication are separate,
 * explicit steps chosen by a scheduler (the random simulator, fast-check commands or the model
 * checker), so that every history is a replayable list of actions.
 *
 * Two modes:
 * - a multiset (the simulator): each copy is delivered once, or lost; duplication adds a copy;
 * - a set (`messageSet`, the model checker): a message once sent stays deliverable forever, any
 *   number of times, in any order — or is never delivered. Loss, duplication and reordering are
 *   thereby unbounded (a strictly larger set of behaviours than any budget), and sending a copy
 *   of a message already in the set adds nothing, which keeps the state space finite despite
 *   the cores' retransmission timers (the TLA+ `msgs` set of Lamport and Gray's Paxos Commit).
 */
export class SimNetwork {
  private entries: InFlightMessage[] = []
  private nextId = 1

  /**
   * Creates an empty network.
   * @param messageSet - see the class comment
   */
  constructor(readonly messageSet = false) {}

  /** Messages in flight, in sending order. */
  get inFlight(): readonly InFlightMessage[] {
    return this.entries
  }

  /** Puts a message on the wire; returns the new entry, or undefined when it merged with one in the set. */
  send(message: Message, now: number, answer: boolean): InFlightMessage | undefined {
    const key = JSON.stringify(message)
    if (this.messageSet && this.entries.some((entry) => entry.key === key)) return undefined
    const entry: InFlightMessage = { id: this.nextId++, message, key, sentAt: now, deliverAt: now, answer }
    this.entries.push(entry)
    return entry
  }

  /** Whether a message with `key` is in flight. */
  has(key: string): boolean {
    return this.entries.some((entry) => entry.key === key)
  }

  /** The entry with `id`, else the first one with `key`. */
  find(id: number | undefined, key: string): InFlightMessage | undefined {
    if (id !== undefined) {
      const byId = this.entries.find((entry) => entry.id === id)
      if (byId !== undefined) return byId
    }
    return this.entries.find((entry) => entry.key === key)
  }

  /** `entry` was delivered: a multiset consumes the copy, a set keeps it. */
  delivered(entry: InFlightMessage): void {
    if (!this.messageSet) this.remove(entry)
  }

  /** `entry` is lost. */
  remove(entry: InFlightMessage): void {
    this.entries = this.entries.filter((other) => other !== entry)
  }

  /** Adds a copy of `entry` (a set already delivers it any number of times: nothing to add). */
  duplicate(entry: InFlightMessage, now: number): InFlightMessage {
    if (this.messageSet) return entry
    const copy: InFlightMessage = { ...entry, id: this.nextId++, sentAt: now, deliverAt: now }
    this.entries.push(copy)
    return copy
  }

  /** Removes every message from or to `node` (a connection reset when it crashes); returns how many. */
  resetConnectionsOf(node: NodeId): number {
    const before = this.entries.length
    this.entries = this.entries.filter((entry) => entry.message.from !== node && entry.message.to !== node)
    return before - this.entries.length
  }

  /** An independent copy. */
  clone(): SimNetwork {
    const copy = new SimNetwork(this.messageSet)
    copy.entries = this.entries.map((entry) => ({ ...entry }))
    copy.nextId = this.nextId
    return copy
  }
}

/**
 * Link faults a scheduler applies on top of a {@link SimNetwork}: cut links (symmetric or one-way
 * partitions), whose messages are lost when they arrive, and clogged nodes, whose messages wait
 * until the node is unclogged (FoundationDB's "clogging").
 */
export class SimLinks {
  private readonly cut = new Set<string>()
  private readonly clogged = new Set<NodeId>()

  /** Cuts `from → to`; with `bothWays`, `to → from` too. */
  block(from: NodeId, to: NodeId, bothWays: boolean): void {
    this.cut.add(`${from}\u0000${to}`)
    if (bothWays) this.cut.add(`${to}\u0000${from}`)
  }

  /** Whether `from → to` is cut. */
  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}\u0000${to}`)
  }

  /** Holds every message to or from `node` until {@link unclog}. */
  clog(node: NodeId): void {
    this.clogged.add(node)
  }

  /** Releases a clogged node. */
  unclog(node: NodeId): void {
    this.clogged.delete(node)
  }

  /** Whether a message `from → to` must wait. */
  isHeld(from: NodeId, to: NodeId): boolean {
    return this.clogged.has(from) || this.clogged.has(to)
  }

  /** True when some link is cut or some node clogged. */
  get faulty(): boolean {
    return this.cut.size > 0 || this.clogged.size > 0
  }

  /** Restores every link and unclogs every node. */
  heal(): void {
    this.cut.clear()
    this.clogged.clear()
  }
}
