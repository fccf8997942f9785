import { TwopcError } from '../core/errors.js'
import { isDeepFrozen, ownedFrozen } from '../core/payload.js'
import { type LogRecord, parseRecord } from '../core/records.js'
import type { TxId } from '../core/types.js'
import type { DurableLog } from '../runtime/interfaces.js'

/**
 * An in-memory {@link DurableLog} for tests and demos. Records become "durable" asynchronously,
 * once the microtasks queued when `append` was called have run (a sync that costs no event-loop
 * turn), and {@link crash} loses whatever is not durable yet, so a
 * test can restart a node from what a real disk would have kept. Records are validated and copied
 * on the way in, so a caller changing its objects later changes nothing stored: a payload is
 * copied through JSON, as a file or database would store it, unless it is one the library already
 * froze (then it is shared, since nothing can change it).
 */
export class MemoryLog implements DurableLog {
  private durable: LogRecord[] = []
  /**
   * Forgotten transactions, with how many records were durable when each was forgotten: records of
   * it before that point are dead (a later record of the same id stays, as in a real log). Dead
   * records are dropped in one pass once they are half the log, so forget() costs O(1) amortized.
   */
  private forgotten = new Map<TxId, number>()
  /** Durable records per transaction not yet forgotten, to count the dead ones exactly. */
  private liveCounts = new Map<TxId, number>()
  private dead = 0
  private pending: { records: LogRecord[]; resolve(): void; reject(error: unknown): void }[] = []
  private failure: Error | undefined
  private flushScheduled = false
  private syncCount = 0

  /**
   * Appends; resolves once the records are durable (after the microtasks already queued, shared by
   * every append until then). An invalid record rejects the whole append with `INVALID_RECORD`.
   */
  append(records: readonly LogRecord[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    let copies: LogRecord[]
    try {
      copies = records.map(stored)
    } catch (error) {
      // DurableLog.append reports failures by rejecting; a synchronous throw escapes `.catch()`.
      return Promise.reject(error)
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ records: copies, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(() => this.flush())
      }
    })
  }

  /** The durable records, in order. */
  async load(): Promise<LogRecord[]> {
    return this.live().map(parseRecord)
  }

  /** Drops every durable record of the given finished transactions (compaction). */
  forget(txIds: readonly TxId[]): void {
    for (const txId of txIds) {
      this.forgotten.set(txId, this.durable.length)
      this.dead += this.liveCounts.get(txId) ?? 0
      this.liveCounts.delete(txId)
    }
    if (this.dead * 2 > this.durable.length) this.compact()
  }

  /**
   * Simulates a power cut: appends not yet durable are lost and their promises reject.
   * Afterwards the log can be handed to a new node, which loads the durable records.
   */
  crash(): void {
    const lost = this.pending
    this.pending = []
    for (const entry of lost)
      entry.reject(new TwopcError('CLOSED', 'MemoryLog crashed before the records were durable'))
  }

  /** Makes every later append reject with `error` (as a failed fsync would), until {@link repair}. */
  failAppends(error: Error = new TwopcError('LOG_IO', 'MemoryLog: simulated write failure')): void {
    this.failure = error
  }

  /** Undoes {@link failAppends}. */
  repair(): void {
    this.failure = undefined
  }

  /** A copy of the durable records, for assertions. */
  get records(): readonly LogRecord[] {
    return this.live()
  }

  /** How many simulated syncs made records durable (appends that arrived together share one). */
  get syncs(): number {
    return this.syncCount
  }

  private flush(): void {
    this.flushScheduled = false
    const batch = this.pending
    this.pending = []
    if (batch.length === 0) return
    this.syncCount += 1
    for (const entry of batch) {
      this.durable.push(...entry.records)
      for (const { txId } of entry.records) this.liveCounts.set(txId, (this.liveCounts.get(txId) ?? 0) + 1)
      entry.resolve()
    }
  }

  private live(): LogRecord[] {
    return this.durable.filter((record, index) => !(index < (this.forgotten.get(record.txId) ?? 0)))
  }

  private compact(): void {
    this.durable = this.live()
    this.forgotten = new Map()
    this.dead = 0
  }
}

/** The copy of `record` the log keeps: validated, with a payload nobody else can change. */
function stored(record: LogRecord): LogRecord {
  const copy = parseRecord(record)
  if (copy.type !== 'prepared' || isDeepFrozen(copy.payload)) return copy
  return { ...copy, payload: ownedFrozen(copy.payload) }
}
