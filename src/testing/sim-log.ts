import type { LogRecord } from '../core/records.js'
import type { Decision, TxId } from '../core/types.js'
import type { DurableLog } from '../runtime/interfaces.js'

/** Options of a {@link SimLog}. */
export interface SimLogOptions {
  /**
   * A broken log, for teeth: `append` resolves at once, before its records are durable, so a
   * node may send `vote: yes`, `commit` or `ack` before its record would survive a crash (S2).
   * @default false
   */
  readonly lies?: boolean
  /**
   * Honour `forget` (compaction): drop the durable records of the transactions named.
   * @default false
   */
  readonly compaction?: boolean
  /**
   * A broken disk, for teeth: a crash also loses the last record that was durable (an fsync that
   * lied), so a node may forget a decision it already acted on.
   * @default false
   */
  readonly losesSyncedRecordOnCrash?: boolean
}

interface PendingAppend {
  readonly records: readonly LogRecord[]
  /** 1 for the first append to this log, 2 for the next, … */
  readonly index: number
  readonly resolve: () => void
}

/**
 * A {@link DurableLog} whose syncs happen only when a test says so. `append` adds the records to
 * an unsynced tail and resolves once {@link SimLog.sync} makes them durable (every record
 * appended before them too: group commit, in order). {@link SimLog.crash} keeps the durable
 * records and a prefix of the tail, and never resolves the appends it lost. Records are copied
 * through JSON on the way in and out, as a file would store them.
 *
 * Used by {@link simulateRuntime} (one sync step syncs the whole tail) and by the fast-check
 * scheduler tests of the runtime classes (one scheduled sync per append).
 *
 * @example
 * ```ts
 * const log = new SimLog()
 * const appended = log.append([{ type: 'end', txId: 't1' }])
 * log.sync() // → the records made durable; `appended` resolves
 * ```
 */
export class SimLog implements DurableLog {
  private durableRecords: LogRecord[] = []
  private tail: PendingAppend[] = []
  private appendCount = 0
  private readonly lies: boolean
  private readonly compaction: boolean
  private readonly losesSyncedRecordOnCrash: boolean

  /** A log with nothing in it. */
  constructor(options: SimLogOptions = {}) {
    this.lies = options.lies ?? false
    this.compaction = options.compaction ?? false
    this.losesSyncedRecordOnCrash = options.losesSyncedRecordOnCrash ?? false
  }

  /** Adds `records` to the unsynced tail; resolves when a sync makes them durable (at once if the log lies). */
  append(records: readonly LogRecord[]): Promise<void> {
    const copies = records.map((record) => JSON.parse(JSON.stringify(record)) as LogRecord)
    return new Promise<void>((resolve) => {
      this.appendCount += 1
      this.tail.push({ records: copies, index: this.appendCount, resolve })
      if (this.lies) resolve()
    })
  }

  /** The durable records, in append order (minus forgotten ones). */
  async load(): Promise<LogRecord[]> {
    return this.durableRecords.map((record) => JSON.parse(JSON.stringify(record)) as LogRecord)
  }

  /** With `compaction`, drops every durable record of these transactions; otherwise ignores the hint. */
  forget(txIds: readonly TxId[]): void {
    if (!this.compaction) return
    const forgotten = new Set(txIds)
    this.durableRecords = this.durableRecords.filter((record) => !forgotten.has(record.txId))
  }

  /** The durable records now, in order. */
  get durable(): readonly LogRecord[] {
    return this.durableRecords
  }

  /** How many records wait in the unsynced tail. */
  get unsynced(): number {
    return this.tail.reduce((count, entry) => count + entry.records.length, 0)
  }

  /** How many `append` calls this log has received (the index of the latest one). */
  get appends(): number {
    return this.appendCount
  }

  /**
   * Makes the tail durable up to and including the `throughAppend`-th append (default: all of it)
   * and resolves those appends, in order. Returns the records made durable.
   */
  sync(throughAppend = Number.POSITIVE_INFINITY): LogRecord[] {
    const synced: LogRecord[] = []
    while (this.tail.length > 0 && (this.tail[0]?.index ?? Number.POSITIVE_INFINITY) <= throughAppend) {
      const entry = this.tail.shift() as PendingAppend
      this.durableRecords.push(...entry.records)
      synced.push(...entry.records)
      entry.resolve()
    }
    return synced
  }

  /**
   * A power cut: the first `keep` records of the unsynced tail reach the disk, the rest are lost.
   * No pending append resolves, ever (their node is gone). Returns the records kept.
   */
  crash(keep: number): LogRecord[] {
    const unsynced = this.tail.flatMap((entry) => entry.records)
    const kept = unsynced.slice(0, Math.max(0, keep))
    if (this.losesSyncedRecordOnCrash) this.durableRecords.pop()
    this.durableRecords.push(...kept)
    this.tail = []
    return kept
  }

  /** Whether a record of `type` (and `decision`, for outcomes) for `txId` is durable now. */
  has(type: LogRecord['type'], txId: TxId, decision?: Decision): boolean {
    return this.durableRecords.some(
      (record) =>
        record.type === type &&
        record.txId === txId &&
        (decision === undefined || (record.type === 'outcome' && record.decision === decision)),
    )
  }
}
