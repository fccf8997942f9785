import { TwopcError } from '../core/errors.js'
import { type LogRecord, parseRecord } from '../core/records.js'
import type { TxId } from '../core/types.js'
import type { DurableLog } from '../runtime/interfaces.js'

/**
 * An in-memory {@link DurableLog} for tests and demos. Records become "durable" one macrotask
 * after `append` (like a real sync), and {@link crash} loses whatever is not durable yet, so a
 * test can restart a node from what a real disk would have kept. Records are copied through
 * JSON on the way in, as a file or database would store them.
 */
export class MemoryLog implements DurableLog {
  private durable: LogRecord[] = []
  private pending: { records: LogRecord[]; resolve(): void; reject(error: unknown): void }[] = []
  private failure: Error | undefined
  private flushScheduled = false
  private syncCount = 0

  /**
   * Appends; resolves once the records are durable (on the next macrotask, shared by every append
   * until then). An invalid record rejects the whole append with `INVALID_RECORD`.
   */
  append(records: readonly LogRecord[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    let copies: LogRecord[]
    try {
      copies = records.map((record) => JSON.parse(JSON.stringify(parseRecord(record))) as LogRecord)
    } catch (error) {
      // DurableLog.append reports failures by rejecting; a synchronous throw escapes `.catch()`.
      return Promise.reject(error)
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ records: copies, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setTimeout(() => this.flush(), 0)
      }
    })
  }

  /** The durable records, in order. */
  async load(): Promise<LogRecord[]> {
    return this.durable.map((record) => parseRecord(JSON.parse(JSON.stringify(record))))
  }

  /** Drops every record of the given finished transactions (compaction). */
  forget(txIds: readonly TxId[]): void {
    const gone = new Set(txIds)
    this.durable = this.durable.filter((record) => !gone.has(record.txId))
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
    return [...this.durable]
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
      entry.resolve()
    }
  }
}
