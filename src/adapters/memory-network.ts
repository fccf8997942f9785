import { TwopcError } from '../core/errors.js'
import { type Message, parseMessage } from '../core/messages.js'
import { invalidOption, MAX_DURATION_MS } from '../core/options.js'
import { isDeepFrozen, ownedFrozen } from '../core/payload.js'
import type { NodeId } from '../core/types.js'
import { isId, isSealedMessage, SEALED_DELIVERY, sealMessage } from '../core/validate.js'
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

/** A message on its way, due at the next macrotask. */
interface Delivery {
  readonly from: NodeId
  readonly to: NodeId
  readonly message: unknown
}

/**
 * An in-process network for tests, demos and the simulator: `connect(id)` returns a
 * {@link Transport} for node `id`. Messages are delivered asynchronously, subject to a seeded fault
 * model and to partitions; payloads must be JSON-compatible, as on a real wire.
 *
 * What is delivered is never an object the sender can still change. A valid message is validated
 * once, when it is sent, and handed over deep-frozen, so that the receiver's `parseMessage` returns
 * it at once; its payload is shared, not copied, when it is deep-frozen already (as
 * `Coordinator.commit()` leaves it), else copied through JSON once. A duplicate is the same frozen
 * object, delivered twice. An invalid message is copied through JSON, as a real wire would, for
 * the receiver to refuse. Without `maxDelayMs`, everything sent in one turn of the event loop is
 * delivered, in send order, in one macrotask of the next turn.
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
  /** Whether any fault is drawn: without loss, duplication or delay, no random number is. */
  private readonly faulty: boolean
  private counts = { sent: 0, delivered: 0, lost: 0, duplicated: 0, undeliverable: 0 }
  /** Deliveries for the next macrotask, in send order (without `maxDelayMs`). */
  private due: Delivery[] = []

  /** @throws TwopcError `INVALID_OPTIONS` for rates outside [0, 1] or a negative delay. */
  constructor(options: MemoryNetworkOptions = {}) {
    const seed = options.seed ?? 1
    if (!Number.isSafeInteger(seed)) invalidOption('seed', 'an integer', seed)
    this.random = seededRandom(seed)
    this.lossRate = rate('lossRate', options.lossRate)
    this.duplicateRate = rate('duplicateRate', options.duplicateRate)
    this.maxDelayMs = options.maxDelayMs ?? 0
    if (
      typeof this.maxDelayMs !== 'number' ||
      !(this.maxDelayMs >= 0 && this.maxDelayMs <= MAX_DURATION_MS)
    ) {
      invalidOption('maxDelayMs', `a number from 0 to ${MAX_DURATION_MS}`, this.maxDelayMs)
    }
    this.faulty = this.lossRate > 0 || this.duplicateRate > 0 || this.maxDelayMs > 0
  }

  /**
   * The transport of node `id`. Connecting an id again (a restarted node) replaces the previous
   * endpoint; the old one stops receiving.
   * @throws TwopcError `INVALID_OPTIONS` when `id` is not a node id
   */
  connect(id: NodeId): Transport {
    if (!isId(id)) invalidOption('id', 'a node id: a non-empty string of printable characters', id)
    const endpoint = Symbol(id)
    this.owners.set(id, endpoint)
    this.handlers.delete(id)
    const transport: Transport = {
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
    // Not enumerable: a wrapper built by spreading this object (`{ ...transport, send }`) gets the
    // core's messages as they are, as any transport of its own would.
    Object.defineProperty(transport, SEALED_DELIVERY, { value: true })
    return transport
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
    const delivered = handOver(message)
    let copies = 1
    if (this.faulty) {
      if (this.random() < this.lossRate) {
        this.counts.lost += 1
        return
      }
      copies = this.random() < this.duplicateRate ? 2 : 1
      if (copies === 2) this.counts.duplicated += 1
    }
    for (let i = 0; i < copies; i++) {
      if (this.maxDelayMs > 0) {
        setTimeout(() => this.deliver(from, to, delivered), this.random() * this.maxDelayMs)
        continue
      }
      if (this.due.length === 0) nextMacrotask(this.deliverDue)
      this.due.push({ from, to, message: delivered })
    }
  }

  /** Delivers everything sent since the last call; what handlers send meanwhile waits for the next. */
  private readonly deliverDue = (): void => {
    const due = this.due
    this.due = []
    for (const { from, to, message } of due) {
      try {
        this.deliver(from, to, message)
      } catch (error) {
        // A handler's exception is its own: rethrown on its own, the batch goes on.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  private deliver(from: NodeId, to: NodeId, message: unknown): void {
    const handler = this.handlers.get(to)
    if (handler === undefined || (this.cut.size > 0 && this.cut.has(`${from}\u0000${to}`))) {
      this.counts.undeliverable += 1
      return
    }
    this.counts.delivered += 1
    handler(message)
  }
}

/**
 * What the receiver of `message` gets: `message` validated and deep-frozen, sharing with the sender
 * only a payload that is deep-frozen already; or, if it is not valid, a JSON copy of it.
 * @throws whatever `JSON.stringify` throws on an invalid message it cannot write (a BigInt, a cycle).
 */
function handOver(message: Message): unknown {
  let valid: Message
  try {
    valid = parseMessage(message)
  } catch {
    return JSON.parse(JSON.stringify(message))
  }
  if (isSealedMessage(valid)) return valid
  if (valid.type === 'prepare' && !isDeepFrozen(valid.payload)) {
    valid = { ...valid, payload: ownedFrozen(valid.payload) }
  }
  return sealMessage(valid)
}
