import type { LogRecord } from '../core/records.js'
import type { Decision, TxId } from '../core/types.js'
import type { DurableLog } from '../runtime/interfaces.js'
import { SimDisk } from './sim-disk.js'

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
  /** 1 for the first append to this log, 2 for the next, … */
  readonly index: number
  /** The disk position just after this append's records. */
  readonly through: number
  readonly resolve: () => void
}

/**
 * A {@link DurableLog} on a {@link SimDisk} whose syncs happen only when a test says so. `append`
 * adds the records to the disk's unsynced tail and resolves once {@link SimLog.sync} makes them
 * durable (every record appended before them too: group commit, in order). {@link SimLog.crash}
 * keeps the durable records and a prefix of the tail, and never resolves the appends it lost.
 * Records are copied through JSON on the way in and out, as a file would store them.
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
  private readonly disk = new SimDisk()
  private pending: PendingAppend[] = []
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
    return new Promise<void>((resolve) => {
      this.appendCount += 1
      const through = this.disk.append(records.map(copy))
      this.pending.push({ index: this.appendCount, through, resolve })
      if (this.lies) resolve()
    })
  }

  /** The durable records, in append order (minus forgotten ones). */
  async load(): Promise<LogRecord[]> {
    return this.disk.load().records.map(copy)
  }

  /** With `compaction`, drops every durable record of these transactions; otherwise ignores the hint. */
  forget(txIds: readonly TxId[]): void {
    if (this.compaction) this.disk.forget(new Set(txIds))
  }

  /** The durable records now, in order. */
  get durable(): readonly LogRecord[] {
    return this.disk.durableRecords
  }

  /** How many records wait in the unsynced tail. */
  get unsynced(): number {
    return this.disk.unsynced
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
    const done = this.pending.filter((entry) => entry.index <= throughAppend)
    this.pending = this.pending.slice(done.length)
    const last = done.at(-1)
    const synced = last === undefined ? [] : [...this.disk.sync(last.through)]
    for (const entry of done) entry.resolve()
    return synced
  }

  /**
   * A power cut: the first `keep` records of the unsynced tail reach the disk, the rest are lost.
   * No pending append resolves, ever (their node is gone). Returns the records kept.
   */
  crash(keep: number): LogRecord[] {
    if (this.losesSyncedRecordOnCrash) this.disk.loseLastDurable()
    this.pending = []
    return [...this.disk.crash(keep, false)]
  }

  /** Whether a record of `type` (and `decision`, for outcomes) for `txId` is durable now. */
  has(type: LogRecord['type'], txId: TxId, decision?: Decision): boolean {
    return this.disk.durableRecords.some(
      (record) =>
        record.type === type &&
        record.txId === txId &&
        (decision === undefined || (record.type === 'outcome' && record.decision === decision)),
    )
  }
}

/** A copy through JSON, as a file would store the record. */
function copy(record: LogRecord): LogRecord {
  return JSON.parse(JSON.stringify(record)) as LogRecord
}
