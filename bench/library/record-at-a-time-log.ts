import type { DurableLog, LogRecord, TxId } from '../../src/index.js'
import type { FileLog } from '../../src/node.js'

/**
 * FileLog with one write and one `fdatasync` per record. FileLog has no such mode — it always
 * group-commits whatever is waiting — so this wrapper emulates it: it hands FileLog one record (or
 * one forget note) at a time and waits until that one is durable before handing over the next.
 * The benchmark's "file-per-record" log, the cost group commit saves.
 */
export class RecordAtATimeLog implements DurableLog {
  private tail: Promise<void> = Promise.resolve()

  constructor(private readonly inner: FileLog) {}

  /** Appends the records one by one, each durable before the next is written. */
  append(records: readonly LogRecord[]): Promise<void> {
    return this.serialize(async () => {
      for (const record of records) await this.inner.append([record])
    })
  }

  /** Loads the wrapped log. */
  load(): Promise<LogRecord[]> {
    return this.inner.load()
  }

  /** Writes the forget note in its own sync, after every earlier append. */
  forget(txIds: readonly TxId[]): Promise<void> {
    return this.serialize(() => this.inner.forget(txIds))
  }

  /** Closes the wrapped log after the appends in progress. */
  close(): Promise<void> {
    return this.serialize(() => this.inner.close())
  }

  private serialize(operation: () => Promise<void>): Promise<void> {
    const done = this.tail.then(operation)
    this.tail = done.catch(() => {})
    return done
  }
}
