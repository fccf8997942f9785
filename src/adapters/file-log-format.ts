import { TwopcError } from '../core/errors.js'
import { type LogRecord, parseRecord } from '../core/records.js'
import type { TxId } from '../core/types.js'
import { isId } from '../core/validate.js'

/*
 * The on-disk format of the file log: a sequence of frames, each
 * `[u32 payload length][u32 CRC-32 of the payload][payload]` (little-endian), where the payload is
 * the UTF-8 JSON of one entry. An entry is a log record, or a forget note `{"forget": txId}` saying
 * that every earlier record of `txId` is dropped. Notes make `forget()` survive a restart without
 * rewriting the file; compaction removes them together with the records they cover.
 */

/** Bytes before each payload: its length and its checksum. */
export const FRAME_HEADER_BYTES = 8

/** The longest payload a frame can declare: the length field is a u32. */
export const MAX_FRAME_LENGTH = 0xffffffff

/** FileLog's default `maxRecordBytes` (16 MiB), which `twopc inspect` assumes too unless told otherwise. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024

/** One decoded frame's content. */
export type LogEntry =
  | { readonly type: 'record'; readonly record: LogRecord }
  | { readonly type: 'forget'; readonly txId: TxId }

/** A {@link LogEntry} as {@link decodeLog} found it, with its payload's JSON text. */
export type DecodedEntry = LogEntry & { readonly json: string }

/** What {@link decodeLog} found. */
export interface DecodedLog {
  /** The entries of every intact frame, in file order. */
  readonly entries: DecodedEntry[]
  /** Where the intact frames end: the file's length, unless it has a torn tail. */
  readonly validBytes: number
}

/** The live records of a log, after forget notes are applied. */
export interface ReplayedLog {
  /** Records not forgotten, in append order. */
  readonly records: LogRecord[]
}

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), eight bytes per step ("slicing-by-8",
// Kounavis and Berry 2008): entry 256·k + n is the CRC of byte n followed by k zero bytes. Every
// byte of a log is checksummed at load, so this speed is recovery time: about five times the
// one-table loop's. Hand-written because `zlib.crc32` only exists from Node 20.15 and the package
// supports every Node 20.
const CRC_TABLE = (() => {
  const table = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n += 1) {
    let c = n
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c
  }
  for (let i = 256; i < table.length; i += 1) {
    const previous = table[i - 256] as number
    table[i] = (previous >>> 8) ^ (table[previous & 0xff] as number)
  }
  return table
})()

/**
 * The CRC-32 of `bytes` from `start` to `end`, as zlib and PNG compute it:
 * `crc32('123456789') === 0xcbf43926`.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const table = CRC_TABLE
  let crc = -1
  let i = start
  for (; i + 8 <= end; i += 8) {
    const low =
      crc ^
      ((bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24))
    crc =
      (table[0x700 | (low & 0xff)] as number) ^
      (table[0x600 | ((low >>> 8) & 0xff)] as number) ^
      (table[0x500 | ((low >>> 16) & 0xff)] as number) ^
      (table[0x400 | (low >>> 24)] as number) ^
      (table[0x300 | (bytes[i + 4] as number)] as number) ^
      (table[0x200 | (bytes[i + 5] as number)] as number) ^
      (table[0x100 | (bytes[i + 6] as number)] as number) ^
      (table[bytes[i + 7] as number] as number)
  }
  for (; i < end; i += 1) crc = (table[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

/**
 * The JSON of a record that `parseRecord` already accepted: a frame's payload, once UTF-8 encoded.
 * @throws TwopcError `INVALID_RECORD` if the payload cannot be serialized (a cycle, a `BigInt`)
 */
export function recordJson(record: LogRecord): string {
  try {
    return JSON.stringify(record)
  } catch (error) {
    throw new TwopcError(
      'INVALID_RECORD',
      `Invalid log record: expected \`payload\` to be JSON, but serializing it failed: ${(error as Error).message}`,
      { cause: error },
    )
  }
}

/** The payload of a forget note for `txId`, as JSON text. */
export function encodeForgetPayload(txId: TxId): string {
  return JSON.stringify({ forget: txId })
}

/** One frame's payload: JSON text and its length in UTF-8 bytes. */
export interface FramePayload {
  readonly json: string
  readonly bytes: number
}

/** `json` as a {@link FramePayload}. */
export function framePayload(json: string): FramePayload {
  return { json, bytes: Buffer.byteLength(json) }
}

/**
 * Frames `payloads`, in order, into one buffer: for each, length, checksum, then the JSON written
 * as UTF-8 straight into place — one allocation for a whole group commit, no buffer per frame and
 * no copy to join them.
 */
export function encodeFrames(payloads: readonly FramePayload[]): Buffer {
  let total = 0
  for (let i = 0; i < payloads.length; i++) total += FRAME_HEADER_BYTES + (payloads[i] as FramePayload).bytes
  const buffer = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < payloads.length; i++) {
    const { json, bytes } = payloads[i] as FramePayload
    const start = at + FRAME_HEADER_BYTES
    buffer.write(json, start, bytes, 'utf8')
    buffer.writeUInt32LE(bytes, at)
    buffer.writeUInt32LE(crc32(buffer, start, start + bytes), at + 4)
    at = start + bytes
  }
  return buffer
}

/**
 * Decodes a whole log file. A torn tail — what a crash during an unsynced write leaves — ends the
 * valid part (`validBytes`) and is the caller's to truncate. It is one of: a header cut short, a
 * payload cut short (its declared length runs past the end of the file), a last frame whose
 * checksum fails and that ends exactly at the end of the file, or zero bytes up to the end (a file
 * extended but whose data never reached the disk). Anything else that fails is corruption of data
 * that was once durable, and throws; so does a file with no intact frame whose bytes do not begin
 * one (not a twopc log: a wrong path).
 *
 * @param path - the file, named in error messages
 * @param maxPayloadBytes - frames declaring more are corruption: no writer produced them
 * @throws TwopcError `LOG_CORRUPTED` naming `path` and the byte offset of the bad frame
 */
export function decodeLog(bytes: Uint8Array, path: string, maxPayloadBytes: number): DecodedLog {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const entries: DecodedEntry[] = []
  let offset = 0
  while (offset < view.length) {
    if (isZeroFrom(view, offset) || view.length - offset < FRAME_HEADER_BYTES) break
    const length = view.readUInt32LE(offset)
    // A bit flip in a length could point past the end and pass for a torn tail, silently cutting
    // off every later record; a length no writer could have produced is corruption instead.
    if (length > maxPayloadBytes) {
      throw corrupted(path, offset, `the frame declares ${length} bytes, more than maxRecordBytes`)
    }
    const end = offset + FRAME_HEADER_BYTES + length
    if (end > view.length) break
    // Ranges of `view`, not a Buffer per frame: a load of 100,000 frames allocates less.
    if (crc32(view, offset + FRAME_HEADER_BYTES, end) !== view.readUInt32LE(offset + 4)) {
      if (end === view.length) break
      throw corrupted(path, offset, 'checksum mismatch, and more data follows the frame')
    }
    entries.push(decodeEntry(view.toString('utf8', offset + FRAME_HEADER_BYTES, end), path, offset))
    offset = end
  }
  if (offset === 0 && !isZeroFrom(view, 0)) checkFirstFrameStart(view, path, maxPayloadBytes)
  return { entries, validBytes: offset }
}

/** The first byte of every payload FileLog writes: a record or a forget note is a JSON object. */
const OPEN_BRACE = 0x7b

/**
 * A file with no intact frame whose bytes are not all zero: a torn tail only if they begin a
 * frame as FileLog writes one — a whole header declaring a length it accepts, then `{`. A crash
 * cannot leave less of a new log's first frame: the header and the payload's first byte sit in its
 * first disk sector, which reaches the disk whole or not at all. Anything else is not a twopc log
 * (a `path` naming another file) and must not be cut to nothing as a "torn tail".
 */
function checkFirstFrameStart(view: Buffer, path: string, maxPayloadBytes: number): void {
  const begins =
    view.length > FRAME_HEADER_BYTES &&
    view.readUInt32LE(0) <= maxPayloadBytes &&
    view[FRAME_HEADER_BYTES] === OPEN_BRACE
  if (!begins) {
    throw corrupted(
      path,
      0,
      `not a twopc log: its ${view.length} bytes hold no intact frame and do not begin one ` +
        '([u32 length][u32 CRC-32]{…). Check the path',
    )
  }
}

/** Applies forget notes: each drops every earlier record of its transaction, and itself. */
export function replayEntries(entries: readonly LogEntry[]): ReplayedLog {
  const live = new LiveSet<LogRecord>()
  for (const entry of entries) {
    if (entry.type === 'forget') live.forget(entry.txId)
    else live.add(entry.record.txId, entry.record)
  }
  return { records: live.values() }
}

/**
 * What a log's frames leave live, kept up to date one frame at a time: a value for each record not
 * forgotten, in file order, and how many frames the file holds. {@link replayEntries} keeps the
 * records themselves in one; FileLog keeps the JSON of each live record, so that compaction writes
 * the live records without reading the file. Nothing of a forgotten transaction is kept. Values
 * are never `undefined` (an empty slot is).
 */
export class LiveSet<T> {
  private frameCount = 0
  private liveCount = 0
  /** The value of each record applied, in file order; a forgotten record leaves its slot empty. */
  private slots: (T | undefined)[] = []
  /** The slots of each transaction with live records. */
  private slotsByTx = new Map<TxId, number[]>()

  /** Frames applied since the file began or was last compacted: records and forget notes, live or not. */
  get frames(): number {
    return this.frameCount
  }

  /** Live records. */
  get size(): number {
    return this.liveCount
  }

  /** Applies a record frame of `txId`. */
  add(txId: TxId, value: T): void {
    const slot = this.slots.push(value) - 1
    const slots = this.slotsByTx.get(txId)
    if (slots === undefined) this.slotsByTx.set(txId, [slot])
    else slots.push(slot)
    this.frameCount += 1
    this.liveCount += 1
  }

  /** Applies a forget note: drops every record of `txId` applied before it. */
  forget(txId: TxId): void {
    this.frameCount += 1
    const slots = this.slotsByTx.get(txId)
    if (slots === undefined) return
    for (const slot of slots) this.slots[slot] = undefined
    this.liveCount -= slots.length
    this.slotsByTx.delete(txId)
    // An empty slot still costs a few bytes: drop them once they outnumber the live ones.
    if (this.slots.length > 2 * this.liveCount + 1024) this.dropEmptySlots()
  }

  /** The live values, in file order. */
  values(): T[] {
    return this.slots.filter((value): value is T => value !== undefined)
  }

  /** The transactions with live records. */
  txIds(): IterableIterator<TxId> {
    return this.slotsByTx.keys()
  }

  /**
   * Moves the records and frames into a new set, with `transform` of each value, and leaves this one
   * empty (moved rather than copied: FileLog calls it once per load, on every live record).
   */
  map<U>(transform: (value: T) => U): LiveSet<U> {
    const mapped = new LiveSet<U>()
    mapped.frameCount = this.frameCount
    mapped.liveCount = this.liveCount
    mapped.slots = this.slots.map((value) => (value === undefined ? undefined : transform(value)))
    mapped.slotsByTx = this.slotsByTx
    this.frameCount = 0
    this.liveCount = 0
    this.slots = []
    this.slotsByTx = new Map()
    return mapped
  }

  /** The file was rewritten with the live records alone. */
  compacted(): void {
    this.frameCount = this.liveCount
  }

  private dropEmptySlots(): void {
    const moved = new Int32Array(this.slots.length)
    const slots: T[] = []
    this.slots.forEach((value, slot) => {
      if (value !== undefined) moved[slot] = slots.push(value) - 1
    })
    for (const txSlots of this.slotsByTx.values()) {
      txSlots.forEach((slot, i) => {
        txSlots[i] = moved[slot] as number
      })
    }
    this.slots = slots
  }
}

function decodeEntry(json: string, path: string, offset: number): DecodedEntry {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    throw corrupted(path, offset, 'the checksum matches but the payload is not JSON')
  }
  if (typeof value === 'object' && value !== null && 'forget' in value && !('type' in value)) {
    if (isId(value.forget)) return { type: 'forget', txId: value.forget, json }
    throw corrupted(path, offset, 'the checksum matches but the forget note holds no transaction id')
  }
  try {
    return { type: 'record', record: parseRecord(value), json }
  } catch (error) {
    throw corrupted(path, offset, `the checksum matches but ${(error as Error).message}`)
  }
}

function isZeroFrom(view: Buffer, offset: number): boolean {
  for (let i = offset; i < view.length; i += 1) if (view[i] !== 0) return false
  return true
}

function corrupted(path: string, offset: number, reason: string): TwopcError {
  return new TwopcError(
    'LOG_CORRUPTED',
    `Log file ${path} is corrupted at byte offset ${offset}: ${reason}. ` +
      'Refusing to load it: restore the file, or move it aside if losing its records is acceptable',
  )
}
