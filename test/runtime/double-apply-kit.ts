import type {
  DurableLog,
  LogRecord,
  Message,
  NodeId,
  Resource,
  TransactionInfo,
  Transport,
  TxId,
  Vote,
} from '../../src/index.js'

/**
 * What the double-apply tests (issue 12) are built from, written the way a user of the library
 * would write them: a {@link Transport}, a {@link DurableLog} and a {@link Resource} implementing
 * the documented interfaces, and nothing from the library's internals or test helpers.
 */

type Match = (message: Message) => boolean

/**
 * An in-process network: every node `connect`s and gets a {@link Transport}. Messages go through
 * JSON (as on a wire) and are delivered on a later macrotask, to whichever endpoint is connected
 * under the recipient's id at that moment (a message to a closed node is lost). A test can block
 * messages, and can make the network duplicate one message and hold the copy back until it
 * releases it: a late delivery from the past.
 */
export class Router {
  private readonly handlers = new Map<NodeId, (message: unknown) => void>()
  private readonly blocked = new Set<Match>()
  private readonly held: Message[] = []
  private duplicating: { readonly match: Match; readonly captured: (copy: Message) => void } | undefined

  /** A transport for node `id`. Connecting again (after a restart) replaces the previous endpoint. */
  connect(id: NodeId): Transport {
    let own: ((message: unknown) => void) | undefined
    return {
      send: (message) => this.route(message),
      onMessage: (handler) => {
        own = handler
        this.handlers.set(id, handler)
      },
      close: () => {
        if (own !== undefined && this.handlers.get(id) === own) this.handlers.delete(id)
      },
    }
  }

  /** Drops every message matching `match` until the returned function is called. */
  block(match: Match): () => void {
    this.blocked.add(match)
    return () => {
      this.blocked.delete(match)
    }
  }

  /**
   * Duplicates the first message sent from now on that matches `match`: the original is delivered
   * as usual, a copy is held until {@link release}. Resolves with the copy once it is held.
   */
  duplicateFirst(match: Match): Promise<Message> {
    return new Promise((resolve) => {
      this.duplicating = { match, captured: resolve }
    })
  }

  /** Delivers every held copy now (to the endpoints connected now). Returns how many. */
  release(): number {
    const copies = this.held.splice(0)
    for (const copy of copies) this.deliver(copy)
    return copies.length
  }

  private route(message: Message): void {
    for (const match of this.blocked) if (match(message)) return
    const duplicating = this.duplicating
    if (duplicating?.match(message)) {
      this.duplicating = undefined
      const copy = JSON.parse(JSON.stringify(message)) as Message
      this.held.push(copy)
      duplicating.captured(copy)
    }
    this.deliver(message)
  }

  private deliver(message: Message): void {
    const wire = JSON.stringify(message)
    setTimeout(() => this.handlers.get(message.to)?.(JSON.parse(wire)), 0)
  }
}

/**
 * An in-memory durable log that compacts at once: `forget` drops every record of the given
 * transactions that the log holds at that moment. The records are the "disk": a node restarted on
 * the same object loads what the previous life left, minus what was compacted away.
 */
export class CompactingLog implements DurableLog {
  private records: LogRecord[] = []
  /** Every transaction id `forget` was called with, in order. */
  readonly forgotten: TxId[] = []

  async append(records: readonly LogRecord[]): Promise<void> {
    for (const record of records) this.records.push(JSON.parse(JSON.stringify(record)) as LogRecord)
  }

  async load(): Promise<LogRecord[]> {
    return JSON.parse(JSON.stringify(this.records)) as LogRecord[]
  }

  forget(txIds: readonly TxId[]): void {
    const drop = new Set(txIds)
    this.forgotten.push(...txIds)
    this.records = this.records.filter((record) => !drop.has(record.txId))
  }

  /** Whether any record of `txId` is still in the log. */
  holds(txId: TxId): boolean {
    return this.records.some((record) => record.txId === txId)
  }
}

/** How many times each operation of a {@link CountingResource} ran for one transaction. */
export interface Calls {
  prepare: number
  commit: number
  abort: number
}

/**
 * A resource that votes yes and counts its calls per transaction. A committed `{ credit }` payload
 * is added to `balance`, so a double apply shows as money appearing.
 */
export class CountingResource implements Resource {
  balance = 0
  private readonly calls = new Map<TxId, Calls>()

  /** The calls made for `txId` so far. */
  count(txId: TxId): Calls {
    return { ...this.entry(txId) }
  }

  prepare(tx: TransactionInfo): Vote {
    this.entry(tx.txId).prepare += 1
    return 'yes'
  }

  commit(tx: TransactionInfo): void {
    this.entry(tx.txId).commit += 1
    const credit = (tx.payload as { credit?: unknown } | null)?.credit
    if (typeof credit === 'number') this.balance += credit
  }

  abort(tx: TransactionInfo): void {
    this.entry(tx.txId).abort += 1
  }

  private entry(txId: TxId): Calls {
    let calls = this.calls.get(txId)
    if (calls === undefined) {
      calls = { prepare: 0, commit: 0, abort: 0 }
      this.calls.set(txId, calls)
    }
    return calls
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
