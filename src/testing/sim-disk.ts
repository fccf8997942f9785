import type { LogRecord } from '../core/records.js'
import type { TxId } from '../core/types.js'

/** What a simulated node reads back from its disk when it restarts. */
export interface SimDiskLoad {
  /** The records that survived, in append order. */
  readonly records: readonly LogRecord[]
  /** True when a torn (half-written) last record was found and cut off, as a file log's loader does. */
  readonly truncatedTornRecord: boolean
}

/**
 * A simulated disk holding one node's log: a synced prefix, which survives any crash, and an
 * unsynced tail, of which a crash keeps only a prefix — possibly followed by a torn record that
 * the loader truncates (DESIGN.md §5.2, TigerBeetle/FoundationDB style).
 *
 * Positions are counted since the disk was created and never reused, so a `Ready` waiting for its
 * records can name "durable up to position N" and stay correct across later appends.
 *
 * Compaction follows `MemoryLog.forget`: it drops the synced records of the transactions named,
 * and leaves records still in the tail alone (they become durable later, as in `MemoryLog`).
 */
export class SimDisk {
  private synced: LogRecord[] = []
  private tail: LogRecord[] = []
  private torn = false
  private syncedPosition = 0

  /** Position just after the last appended record. */
  get appendedPosition(): number {
    return this.syncedPosition + this.tail.length
  }

  /** Position up to which records are durable. */
  get durablePosition(): number {
    return this.syncedPosition
  }

  /** Number of appended records not yet durable. */
  get unsynced(): number {
    return this.tail.length
  }

  /** The durable records, in order (a copy). */
  get durableRecords(): readonly LogRecord[] {
    return [...this.synced]
  }

  /** The records appended but not yet durable, in order (a copy). */
  get unsyncedRecords(): readonly LogRecord[] {
    return [...this.tail]
  }

  /** Appends records to the unsynced tail; returns the position just after them. */
  append(records: readonly LogRecord[]): number {
    for (const record of records) this.tail.push(record)
    return this.appendedPosition
  }

  /**
   * Makes the tail durable (an fsync) up to position `through` (default: all of it); returns the
   * records that just became durable.
   */
  sync(through = this.appendedPosition): readonly LogRecord[] {
    const newlyDurable = this.tail.splice(0, Math.max(0, through - this.syncedPosition))
    this.synced.push(...newlyDurable)
    this.syncedPosition += newlyDurable.length
    return newlyDurable
  }

  /**
   * A power cut: the synced prefix stays, `keep` records of the tail reach the disk whole, and if
   * `torn` the next one reaches it half-written. Everything else is lost.
   *
   * @param keep - 0 to `unsynced`
   * @param torn - only meaningful when `keep < unsynced`
   * @returns the unsynced records that survived (they are durable now)
   */
  crash(keep: number, torn: boolean): readonly LogRecord[] {
    const kept = this.tail.slice(0, Math.max(0, Math.min(keep, this.tail.length)))
    this.torn = torn && kept.length < this.tail.length
    this.synced.push(...kept)
    this.syncedPosition += kept.length
    this.tail = []
    return kept
  }

  /** Reads the log back at restart; a torn last record is cut off (the file log checks length + checksum). */
  load(): SimDiskLoad {
    const truncatedTornRecord = this.torn
    this.torn = false
    return { records: [...this.synced], truncatedTornRecord }
  }

  /**
   * A broken disk, for teeth: the last durable record is lost (an fsync that lied).
   * @returns the record lost, if there was one
   */
  loseLastDurable(): LogRecord | undefined {
    return this.synced.pop()
  }

  /** Compaction: drops the durable records of `txIds` (called once their `end` record is durable). */
  forget(txIds: ReadonlySet<TxId>): void {
    this.synced = this.synced.filter((record) => !txIds.has(record.txId))
  }

  /** An independent copy (the model checker branches on it). */
  clone(): SimDisk {
    const copy = new SimDisk()
    copy.synced = [...this.synced]
    copy.tail = [...this.tail]
    copy.torn = this.torn
    copy.syncedPosition = this.syncedPosition
    return copy
  }
}
