import { randomUUID } from 'node:crypto'
import { constants } from 'node:fs'
import { type FileHandle, open, rename } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { TwopcError } from '../core/errors.js'
import { invalidOption, MAX_DURATION_MS } from '../core/options.js'
import { type LogRecord, parseRecord } from '../core/records.js'
import type { TxId } from '../core/types.js'
import { describe, isId } from '../core/validate.js'
import type { DurableLog } from '../runtime/interfaces.js'
import { acquireLock, releaseLock } from './file-lock.js'
import {
  DEFAULT_MAX_RECORD_BYTES,
  decodeLog,
  encodeForgetPayload,
  encodeFrames,
  FRAME_HEADER_BYTES,
  type FramePayload,
  framePayload,
  LiveSet,
  MAX_FRAME_LENGTH,
  recordJson,
  replayEntries,
} from './file-log-format.js'
import { createFile, readAll, removeIfPresent, syncDirectory, writeAll } from './fs-io.js'

/** Options of {@link FileLog}. Validated by the constructor. */
export interface FileLogOptions {
  /**
   * The log file. Created if missing; its directory must exist. FileLog also uses `<path>.lock`
   * (the lock) and `<path>.compact` (compaction in progress) next to it.
   * @example '/var/lib/bank-a/twopc.log'
   */
  readonly path: string
  /**
   * Largest record accepted, in bytes of its UTF-8 JSON. Larger ones are rejected with
   * `INVALID_RECORD` before anything is written; on load, a frame declaring more is corruption, so
   * never lower it below what a log already holds.
   * @default 16777216 (16 MiB)
   */
  readonly maxRecordBytes?: number
  /**
   * Compact automatically once the file holds at least this many dead frames (records of
   * forgotten transactions, and the forget notes themselves) and they are at least half of it.
   * `Infinity` compacts only when {@link FileLog.compact} is called.
   * @default 10000
   */
  readonly compactAfterRecords?: number
  /**
   * How long forget notes (written when the runtime forgets a finished transaction) wait for an
   * append to ride with before they are written on their own: while appends keep coming, a forget
   * never costs a sync. `Infinity` writes them only with appends and at `close()`.
   * @default 50
   */
  readonly forgetDelayMs?: number
  /** Fault injection for tests; leave unset in production. See {@link FileLogIo}. */
  readonly io?: FileLogIo
}

/** A file operation FileLog's durability rests on, named for {@link FileLogIo.beforeStep}. */
export type FileLogStep =
  | 'write'
  | 'sync'
  | 'compact-write'
  | 'compact-sync'
  | 'compact-rename'
  | 'compact-sync-directory'

/**
 * Test hook. `beforeStep` runs before each {@link FileLogStep}; throwing (or rejecting) makes that
 * step fail as a full disk or a failed fsync would, and the log reacts exactly as to a real error.
 * Stopping compaction at a step also leaves the files as a crash at that point would.
 *
 * @example
 * ```ts
 * const log = new FileLog({ path, io: { beforeStep: (step) => { if (step === 'sync') throw new Error('EIO') } } })
 * ```
 */
export interface FileLogIo {
  /** Called before `step` runs. */
  beforeStep(step: FileLogStep): void | Promise<void>
}

/** Counters since the log was constructed, from {@link FileLog.stats}. */
export interface FileLogStats {
  /** Records made durable by `append`. */
  readonly records: number
  /** `append` calls made durable (an empty append counts). */
  readonly appends: number
  /** `fdatasync` calls that made appends and forget notes durable. Group commit keeps it below `appends`. */
  readonly syncs: number
  /** Bytes appended to the file (frames of records and forget notes). */
  readonly bytes: number
  /** Compactions completed. */
  readonly compactions: number
}

/** What the first {@link FileLog.load} found and repaired, from {@link FileLog.lastLoad}. */
export interface FileLogLoadReport {
  /** Records returned. */
  readonly records: number
  /** Where the intact frames end: the file's length after load. A torn tail, if any, began here. */
  readonly offset: number
  /**
   * Bytes of torn tail cut off at `offset` (0 if the file ended cleanly). A crash during an append
   * leaves one; no append of those bytes ever resolved, so no caller was told they were durable.
   */
  readonly truncatedBytes: number
  /** Whether a `<path>.compact` left by a crash during compaction was deleted. */
  readonly removedCompactFile: boolean
  /** The process id in a stale lock that was taken over, if the lock's holder had died. */
  readonly staleLockPid: number | undefined
}

/** A record accepted by `append`: its transaction and its JSON (framed when its group commit is written). */
interface EncodedRecord extends FramePayload {
  readonly txId: TxId
}

/** An append or forget waiting for its group commit; once its frames are written, they update the live set. */
type Waiter = (
  | { readonly kind: 'append'; readonly records: readonly EncodedRecord[] }
  | { readonly kind: 'forget'; readonly txIds: readonly TxId[]; readonly notes: readonly FramePayload[] }
) & {
  resolve(): void
  reject(error: unknown): void
}

const MIN_MAX_RECORD_BYTES = 1024 // a forget note for the longest transaction id must fit
/** One group-commit write takes waiters up to about this size, so a burst does not double memory at once. */
const BATCH_BYTES_TARGET = 8 * 1024 * 1024

/**
 * A crash-safe append-only {@link DurableLog} in one file, for Node (`twopc/node`).
 *
 * - Each record is a frame `[u32 length][u32 CRC-32][UTF-8 JSON]`; `append` resolves only after
 *   `fdatasync`. Appends that arrive while a write is in flight share the next write and sync
 *   (group commit; see {@link stats}).
 * - {@link load} takes the lock, opens the file, truncates a torn tail left by a crash (reported in
 *   {@link lastLoad}) and rejects with `LOG_CORRUPTED`, naming the file and byte offset, on damage
 *   anywhere else. Call it once, before anything else, and wait for it.
 * - {@link forget} writes a note that drops the transactions' records, so they stay gone after a
 *   restart; compaction later rewrites the file without them.
 * - Memory: the JSON of every live record in the file stays in memory, so that compaction writes
 *   the live records without reading the file back: per record, its JSON's length in bytes (twice
 *   that if it holds characters beyond Latin-1) plus about 100–150 bytes of bookkeeping (measured on
 *   Node 20). A forgotten transaction's records leave memory once its forget note is written.
 * - One FileLog per file: `<path>.lock` holds the owner's pid; another instance, in this process or
 *   another, gets `LOG_LOCKED` while the owner lives. Use it on a local file system.
 * - Any I/O error fails the log for good: that append and every later one reject with `LOG_IO`.
 *   A failed fsync is never retried, because the kernel may have dropped the unwritten pages; the
 *   runtime halts the node, and a restart reloads what really reached the disk.
 *
 * @example
 * ```ts
 * import { FileLog } from 'twopc/node'
 * const log = new FileLog({ path: '/var/lib/bank-a/twopc.log' })
 * const participant = new Participant({ id: 'bank-a', log, transport, resource })
 * await participant.start() // calls log.load()
 * ```
 */
export class FileLog implements DurableLog {
  /** The log file, as an absolute path. */
  readonly path: string
  private readonly lockPath: string
  private readonly compactPath: string
  private readonly maxRecordBytes: number
  private readonly compactAfterRecords: number
  private readonly forgetDelayMs: number
  private readonly io: FileLogIo | undefined
  /** Tells our lock file from one another instance of this same process wrote. */
  private readonly lockToken = randomUUID()
  private handle: FileHandle | undefined
  private closing: Promise<void> | undefined
  private failure: TwopcError | undefined
  private size = 0
  /** Every file operation runs in this chain, one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve()
  private waiting: Waiter[] = []
  private flushQueued = false
  /** Writes forget notes that found no append to ride with (see `forgetDelayMs`). */
  private forgetTimer: ReturnType<typeof setTimeout> | undefined
  private compactionQueued = false
  /** Transactions with records accepted and not forgotten, appends still waiting included: forget() notes these. */
  private liveTxIds = new Set<TxId>()
  /**
   * What the file holds, updated as each group commit is written (not when an append is accepted, so
   * a compaction never writes a record that its append will write again): the JSON of the live
   * records, which compaction writes, and the counts of frames that decide when it runs.
   */
  private live = new LiveSet<string>()
  private readonly counters = { records: 0, appends: 0, syncs: 0, bytes: 0, compactions: 0 }
  private report: FileLogLoadReport | undefined

  /**
   * Checks the options; touches no file (that is {@link load}'s job).
   * @throws TwopcError `INVALID_OPTIONS` naming the option, the value and what was expected
   */
  constructor(options: FileLogOptions) {
    if (typeof options !== 'object' || options === null) invalidOption('options', 'an object', options)
    if (typeof options.path !== 'string' || options.path.length === 0) {
      invalidOption('path', 'a non-empty string', options.path)
    }
    const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
    if (
      !Number.isSafeInteger(maxRecordBytes) ||
      maxRecordBytes < MIN_MAX_RECORD_BYTES ||
      maxRecordBytes > MAX_FRAME_LENGTH
    ) {
      invalidOption(
        'maxRecordBytes',
        `an integer from ${MIN_MAX_RECORD_BYTES} to ${MAX_FRAME_LENGTH}`,
        maxRecordBytes,
      )
    }
    const compactAfterRecords = options.compactAfterRecords ?? 10_000
    if (
      compactAfterRecords !== Number.POSITIVE_INFINITY &&
      !(Number.isSafeInteger(compactAfterRecords) && compactAfterRecords > 0)
    ) {
      invalidOption('compactAfterRecords', 'a positive integer or Infinity', compactAfterRecords)
    }
    const forgetDelayMs = options.forgetDelayMs ?? 50
    if (
      forgetDelayMs !== Number.POSITIVE_INFINITY &&
      !(Number.isSafeInteger(forgetDelayMs) && forgetDelayMs >= 0 && forgetDelayMs <= MAX_DURATION_MS)
    ) {
      invalidOption('forgetDelayMs', `an integer from 0 to ${MAX_DURATION_MS}, or Infinity`, forgetDelayMs)
    }
    if (options.io !== undefined && typeof options.io?.beforeStep !== 'function') {
      invalidOption('io', 'an object with a `beforeStep` method', options.io)
    }
    this.path = resolve(options.path)
    this.lockPath = `${this.path}.lock`
    this.compactPath = `${this.path}.compact`
    this.maxRecordBytes = maxRecordBytes
    this.compactAfterRecords = compactAfterRecords
    this.forgetDelayMs = forgetDelayMs
    this.io = options.io
  }

  /**
   * Opens the log and returns its live records in append order. The first call takes the lock,
   * deletes a leftover `<path>.compact`, truncates a torn tail (see {@link lastLoad}) and may
   * start a compaction; later calls just read the records back. On failure the lock is released
   * and `load()` may be called again.
   *
   * @throws TwopcError `LOG_LOCKED` (another live instance has the file), `LOG_CORRUPTED` (damage
   * before the tail; the file is left untouched), `LOG_IO` (the file could not be read or
   * repaired), `CLOSED` (after {@link close})
   */
  load(): Promise<LogRecord[]> {
    if (this.closing !== undefined) return Promise.reject(this.closedError())
    return this.exclusive(() => (this.handle === undefined ? this.open() : this.readLive(this.handle)))
  }

  /**
   * Appends `records` after every earlier append; resolves once they are on disk (written and
   * `fdatasync`ed). Not idempotent: appending twice stores twice. Call after {@link load} resolved.
   *
   * @throws TwopcError (as a rejection) `INVALID_RECORD` when a record fails `parseRecord` or is
   * larger than `maxRecordBytes` — nothing of the append is written and the log stays usable;
   * `LOG_IO` after an I/O error (this append and every later one); `NOT_STARTED`; `CLOSED`
   */
  append(records: readonly LogRecord[]): Promise<void> {
    const refusal = this.refusal()
    if (refusal !== undefined) return Promise.reject(refusal)
    let encoded: EncodedRecord[]
    try {
      encoded = records.map((record) => this.encode(record))
    } catch (error) {
      return Promise.reject(error)
    }
    for (const { txId } of encoded) this.liveTxIds.add(txId)
    return new Promise((resolve, reject) => {
      this.enqueue({ kind: 'append', records: encoded, resolve, reject })
    })
  }

  /**
   * Drops every record of `txIds` appended before this call (records appended later stay). Called
   * by the runtime once a transaction's `end` record is durable. Writes a small note per
   * transaction with the next group commit, so the records stay gone after a restart, and compacts
   * when enough is dead. A forget never causes a sync of its own while appends keep coming: its
   * notes ride with the next append, or are written after `forgetDelayMs` if none comes (or at `close()`).
   * Idempotent; unknown ids are ignored.
   *
   * Resolves once the notes are durable. Never rejects for I/O errors, before {@link load} or
   * after {@link close}: it is a hint, and a failure already rejects every later append. Rejects with `INVALID_RECORD` if
   * an id is not a valid transaction id.
   */
  forget(txIds: readonly TxId[]): Promise<void> {
    if (!Array.isArray(txIds) || !txIds.every(isId)) {
      const found = Array.isArray(txIds) ? txIds.find((txId) => !isId(txId)) : txIds
      return Promise.reject(
        new TwopcError(
          'INVALID_RECORD',
          `Expected \`txIds\` to be an array of transaction ids, got ${describe(found)}`,
        ),
      )
    }
    if (this.refusal() !== undefined) return Promise.resolve()
    const forgotten: TxId[] = []
    for (const txId of new Set(txIds)) if (this.liveTxIds.delete(txId)) forgotten.push(txId)
    if (forgotten.length === 0) return Promise.resolve()
    const notes = forgotten.map((txId) => framePayload(encodeForgetPayload(txId)))
    return new Promise((resolve) => {
      this.waiting.push({ kind: 'forget', txIds: forgotten, notes, resolve, reject: () => resolve() })
      this.scheduleForgetFlush()
    })
  }

  /**
   * Rewrites the file without the forgotten records, crash-safely: write `<path>.compact`, fsync
   * it, rename it over `<path>`, fsync the directory. Until the rename the old file is authoritative
   * (load() deletes a leftover `.compact`); after it, the new one is, and both hold the same live
   * records. The live records come from memory (see the class notes): the old file is not read
   * again. Runs between group commits, so appends wait but are never lost. Usually automatic
   * (see `compactAfterRecords`). A failure fails the log like any I/O error.
   *
   * @throws TwopcError (as a rejection) `LOG_IO`, `NOT_STARTED`, `CLOSED`
   */
  compact(): Promise<void> {
    const refusal = this.refusal()
    if (refusal !== undefined) return Promise.reject(refusal)
    return this.exclusive(() => this.compactNow())
  }

  /**
   * Waits for accepted appends, closes the file and releases the lock. Idempotent; also releases a
   * failed log. Afterwards every method rejects with `CLOSED` (forget resolves).
   */
  close(): Promise<void> {
    this.closing ??= this.exclusive(async () => {
      clearTimeout(this.forgetTimer)
      // Forget notes still waiting for an append to ride with are written now.
      if (this.waiting.length > 0 && this.failure === undefined) await this.flush()
      const handle = this.handle
      this.handle = undefined
      if (handle === undefined) return
      try {
        await handle.close()
      } finally {
        await releaseLock(this.lockPath, this.lockToken)
      }
    })
    return this.closing
  }

  /** A snapshot of the counters. Cheap; call any time. */
  stats(): FileLogStats {
    return { ...this.counters }
  }

  /** What the first successful {@link load} found and repaired; `undefined` before it. */
  get lastLoad(): FileLogLoadReport | undefined {
    return this.report
  }

  private refusal(): TwopcError | undefined {
    if (this.closing !== undefined) return this.closedError()
    if (this.failure !== undefined) return this.failure
    if (this.handle === undefined) {
      return new TwopcError('NOT_STARTED', `Call load() on the FileLog of ${this.path} and wait for it first`)
    }
    return undefined
  }

  private closedError(): TwopcError {
    return new TwopcError('CLOSED', `The FileLog of ${this.path} is closed`)
  }

  private encode(record: LogRecord): EncodedRecord {
    const parsed = parseRecord(record)
    const json = recordJson(parsed)
    const bytes = Buffer.byteLength(json)
    if (bytes > this.maxRecordBytes) {
      throw new TwopcError(
        'INVALID_RECORD',
        `Invalid log record: its JSON is ${bytes} bytes, more than \`maxRecordBytes\` (${this.maxRecordBytes})`,
      )
    }
    return { txId: parsed.txId, json, bytes }
  }

  /** Runs `operation` after every operation queued before it, whatever their outcome. */
  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation)
    this.queue = result.then(
      () => {},
      () => {},
    )
    return result
  }

  private enqueue(waiter: Waiter): void {
    this.waiting.push(waiter)
    this.scheduleFlush()
  }

  /** Writes waiting forget notes after `forgetDelayMs`, unless an append takes them first. */
  private scheduleForgetFlush(): void {
    if (this.flushQueued || this.forgetTimer !== undefined || this.forgetDelayMs === Number.POSITIVE_INFINITY)
      return
    this.forgetTimer = setTimeout(() => {
      this.forgetTimer = undefined
      if (this.waiting.length > 0 && this.closing === undefined) this.scheduleFlush()
    }, this.forgetDelayMs)
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return
    this.flushQueued = true
    void this.exclusive(() => this.flush())
  }

  /** Group commit: one write and one fdatasync for every waiter that arrived since the last one. */
  private async flush(): Promise<void> {
    let bytes = 0
    let taken = 0
    const payloads: FramePayload[] = []
    for (const waiter of this.waiting) {
      const frames = waiter.kind === 'append' ? waiter.records : waiter.notes
      let size = 0
      for (let i = 0; i < frames.length; i++) size += FRAME_HEADER_BYTES + (frames[i] as FramePayload).bytes
      if (taken > 0 && bytes + size > BATCH_BYTES_TARGET) break
      for (let i = 0; i < frames.length; i++) payloads.push(frames[i] as FramePayload)
      bytes += size
      taken += 1
    }
    const batch = this.waiting.splice(0, taken)
    this.flushQueued = false
    // The forget notes waiting ride with this batch: their delay starts again with the next one.
    clearTimeout(this.forgetTimer)
    this.forgetTimer = undefined
    if (this.waiting.length > 0) this.scheduleFlush()
    try {
      if (this.failure !== undefined) throw this.failure
      if (bytes > 0) await this.writeDurably(encodeFrames(payloads))
    } catch (error) {
      for (const waiter of batch) waiter.reject(error)
      return
    }
    for (const waiter of batch) {
      if (waiter.kind === 'append') {
        for (const { txId, json } of waiter.records) this.live.add(txId, json)
        this.counters.appends += 1
        this.counters.records += waiter.records.length
      } else {
        for (const txId of waiter.txIds) this.live.forget(txId)
      }
      waiter.resolve()
    }
    this.compactIfWorthIt()
  }

  private async writeDurably(bytes: Buffer): Promise<void> {
    const handle = this.openHandle()
    await this.step('write', () => writeAll(handle, bytes, this.size))
    await this.step('sync', () => handle.datasync())
    this.size += bytes.length
    this.counters.syncs += 1
    this.counters.bytes += bytes.length
  }

  private compactIfWorthIt(): void {
    const deadFrames = this.live.frames - this.live.size
    const worthIt = deadFrames >= this.compactAfterRecords && deadFrames * 2 >= this.live.frames
    if (!worthIt || this.compactionQueued) return
    this.compactionQueued = true
    // A failure is kept in `failure` and rejects every later append; nobody else awaits this.
    this.exclusive(async () => {
      this.compactionQueued = false
      if (this.closing === undefined) await this.compactNow()
    }).catch(() => {})
  }

  private async compactNow(): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    const handle = this.openHandle()
    // Written from memory: the file is not read back, and no dead frame is parsed again.
    const bytes = encodeFrames(this.live.values().map(framePayload))
    const next = await this.step('compact-write', () => createFile(this.compactPath, bytes))
    try {
      await this.step('compact-sync', () => next.sync())
      await this.step('compact-rename', () => rename(this.compactPath, this.path))
      await this.step('compact-sync-directory', () => syncDirectory(dirname(this.path)))
    } catch (error) {
      await next.close().catch(() => {})
      throw error
    }
    this.handle = next
    this.size = bytes.length
    this.live.compacted()
    this.counters.compactions += 1
    // The old file is unlinked and everything in it was synced: an error closing it loses nothing.
    await handle.close().catch(() => {})
  }

  private async open(): Promise<LogRecord[]> {
    let staleLockPid: number | undefined
    let handle: FileHandle | undefined
    try {
      staleLockPid = await acquireLock(this.lockPath, this.path, this.lockToken)
      // Until the rename, the original is authoritative: a leftover .compact is a crash mid-compaction.
      const removedCompactFile = await removeIfPresent(this.compactPath)
      handle = await open(this.path, constants.O_RDWR | constants.O_CREAT)
      // The file may have just been created: its name must be durable before any record in it is.
      await syncDirectory(dirname(this.path))
      const { size } = await handle.stat()
      const decoded = decodeLog(await readAll(handle, size), this.path, this.maxRecordBytes)
      if (decoded.validBytes < size) {
        await handle.truncate(decoded.validBytes)
        await handle.sync()
      }
      // One pass applies the forget notes for both: the records returned, the JSON kept for compaction.
      const replayed = new LiveSet<{ readonly record: LogRecord; readonly json: string }>()
      for (const entry of decoded.entries) {
        if (entry.type === 'forget') replayed.forget(entry.txId)
        else replayed.add(entry.record.txId, entry)
      }
      const records = replayed.values().map((entry) => entry.record)
      this.handle = handle
      this.size = decoded.validBytes
      this.live = replayed.map((entry) => entry.json)
      this.liveTxIds = new Set(this.live.txIds())
      this.report = {
        records: records.length,
        offset: decoded.validBytes,
        truncatedBytes: size - decoded.validBytes,
        removedCompactFile,
        staleLockPid,
      }
      this.compactIfWorthIt()
      return records
    } catch (error) {
      await handle?.close().catch(() => {})
      await releaseLock(this.lockPath, this.lockToken).catch(() => {})
      if (error instanceof TwopcError) throw error
      throw new TwopcError('LOG_IO', `Could not open log file ${this.path}: ${messageOf(error)}`, {
        cause: error,
      })
    }
  }

  private async readLive(handle: FileHandle): Promise<LogRecord[]> {
    const decoded = decodeLog(await readAll(handle, this.size), this.path, this.maxRecordBytes)
    return replayEntries(decoded.entries).records
  }

  private openHandle(): FileHandle {
    if (this.handle === undefined) throw this.closedError()
    return this.handle
  }

  /** Runs one durability step; an error fails the log for good. */
  private async step<T>(step: FileLogStep, operation: () => Promise<T>): Promise<T> {
    try {
      await this.io?.beforeStep(step)
      return await operation()
    } catch (error) {
      throw this.fail(step, error)
    }
  }

  private fail(step: string, cause: unknown): TwopcError {
    this.failure ??= new TwopcError(
      'LOG_IO',
      `FileLog ${this.path}: ${step} failed (${messageOf(cause)}). The log accepts no more appends and ` +
        'never retries (a failed fsync may have dropped data): restart the node to reload it',
      { cause },
    )
    return this.failure
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
