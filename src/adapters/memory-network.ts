import { TwopcError } from '../core/errors.js'
import type { Message } from '../core/messages.js'
import { invalidOption } from '../core/options.js'
import type { NodeId } from '../core/types.js'
import type { Transport } from '../runtime/interfaces.js'
import { nextMacrotask } from '../runtime/next-macrotask.js'
import { seededRandom } from '../runtime/seeded-random.js'

/** Options of a {@link MemoryNetwork}. The fault model is drawn from `seed`. */
export interface MemoryNetworkOptions {
  /**
   * Seed for the fault model (which messages are lost, duplicated, and their delays).
   * @default 1
   */
  readonly seed?: number
  /** Probability in [0, 1] that a message is lost. @default 0 */
  readonly lossRate?: number
  /** Probability in [0, 1] that a message is delivered twice. @default 0 */
  readonly duplicateRate?: number
  /** Each delivery is delayed by a random 0..maxDelayMs milliseconds, which reorders messages. @default 0 */
  readonly maxDelayMs?: number
}

/** What happened to the messages sent over a {@link MemoryNetwork}. */
export interface MemoryNetworkStats {
  readonly sent: number
  readonly delivered: number
  readonly lost: number
  readonly duplicated: number
  /** Dropped because of a partition or because no endpoint was connected or listening. */
  readonly undeliverable: number
}

function rate(name: string, value: number | undefined): number {
  const resolved = value ?? 0
  if (typeof resolved !== 'number' || !(resolved >= 0 && resolved <= 1))
    invalidOption(name, 'a number in [0, 1]', resolved)
  return resolved
}

/**
 * An in-process network for tests, demos and the simulator: `connect(id)` returns a
 * {@link Transport} for node `id`. Messages are copied through JSON (so payloads must be
 * JSON-compatible, as on a real wire) and delivered asynchronously, subject to a seeded fault
 * model and to partitions.
 *
 * @example
 * ```ts
 * const net = new MemoryNetwork({ seed: 7, lossRate: 0.1, duplicateRate: 0.05, maxDelayMs: 5 })
 * const transport = net.connect('bank-a')
 * ```
 */
export class MemoryNetwork {
  /** The current endpoint of each connected node; a replaced or closed endpoint can no longer send or receive. */
  private readonly owners = new Map<NodeId, symbol>()
  private readonly handlers = new Map<NodeId, (message: unknown) => void>()
  private readonly cut = new Set<string>()
  private readonly random: () => number
  private readonly lossRate: number
  private readonly duplicateRate: number
  private readonly maxDelayMs: number
  private counts = { sent: 0, delivered: 0, lost: 0, duplicated: 0, undeliverable: 0 }

  /** @throws TwopcError `INVALID_OPTIONS` for rates outside [0, 1] or a negative delay. */
  constructor(options: MemoryNetworkOptions = {}) {
    const seed = options.seed ?? 1
    if (!Number.isSafeInteger(seed)) invalidOption('seed', 'an integer', seed)
    this.random = seededRandom(seed)
    this.lossRate = rate('lossRate', options.lossRate)
    this.duplicateRate = rate('duplicateRate', options.duplicateRate)
    this.maxDelayMs = options.maxDelayMs ?? 0
    if (typeof this.maxDelayMs !== 'number' || !(this.maxDelayMs >= 0)) {
      invalidOption('maxDelayMs', 'a non-negative number', this.maxDelayMs)
    }
  }

  /**
   * The transport of node `id`. Connecting an id again (a restarted node) replaces the previous
   * endpoint; the old one stops receiving.
   */
  connect(id: NodeId): Transport {
    const endpoint = Symbol(id)
    this.owners.set(id, endpoint)
    this.handlers.delete(id)
    return {
      send: (message: Message) => {
        if (this.owners.get(id) !== endpoint)
          throw new TwopcError('CLOSED', `Transport of ${id} was replaced or closed`)
        this.route(id, message)
      },
      onMessage: (handler) => {
        if (this.owners.get(id) === endpoint) this.handlers.set(id, handler)
      },
      close: () => {
        if (this.owners.get(id) === endpoint) {
          this.owners.delete(id)
          this.handlers.delete(id)
        }
      },
    }
  }

  /** Cuts the link between `a` and `b` in both directions until {@link heal}. Messages in flight are lost too. */
  partition(a: NodeId, b: NodeId): void {
    this.block(a, b)
    this.block(b, a)
  }

  /** Cuts the link from `from` to `to` only (a one-way partition) until {@link heal}. */
  block(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}\u0000${to}`)
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear()
  }

  /** Counters since creation. */
  stats(): MemoryNetworkStats {
    return { ...this.counts }
  }

  private route(from: NodeId, message: Message): void {
    const to: unknown = (message as Partial<Message> | null)?.to
    if (typeof to !== 'string') {
      throw new TwopcError(
        'INVALID_MESSAGE',
        `MemoryNetwork routes by \`to\`: expected a node id string, got ${typeof to}`,
      )
    }
    this.counts.sent += 1
    const wire = JSON.stringify(message)
    if (this.random() < this.lossRate) {
      this.counts.lost += 1
      return
    }
    const copies = this.random() < this.duplicateRate ? 2 : 1
    if (copies === 2) this.counts.duplicated += 1
    for (let i = 0; i < copies; i++) {
      const deliver = () => this.deliver(from, message.to, wire)
      if (this.maxDelayMs > 0) setTimeout(deliver, this.random() * this.maxDelayMs)
      else nextMacrotask(deliver)
    }
  }

  private deliver(from: NodeId, to: NodeId, wire: string): void {
    const handler = this.handlers.get(to)
    if (handler === undefined || this.cut.has(`${from}\u0000${to}`)) {
      this.counts.undeliverable += 1
      return
    }
    this.counts.delivered += 1
    handler(JSON.parse(wire))
  }
}
