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

/** One decoded frame's content. */
export type LogEntry =
  | { readonly type: 'record'; readonly record: LogRecord }
  | { readonly type: 'forget'; readonly txId: TxId }

/** What {@link decodeLog} found. */
export interface DecodedLog {
  /** The entries of every intact frame, in file order. */
  readonly entries: LogEntry[]
  /** Where the intact frames end: the file's length, unless it has a torn tail. */
  readonly validBytes: number
}

/** The live records of a log and what its frames hold, after forget notes are applied. */
export interface ReplayedLog {
  /** Records not forgotten, in append order. */
  readonly records: LogRecord[]
  /** How many live records each transaction has. */
  readonly liveByTx: Map<TxId, number>
  /** How many frames the log holds, live or not. */
  readonly frames: number
}

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), table-driven. Hand-written because
// `zlib.crc32` only exists from Node 20.15 and the package supports every Node 20.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n += 1) {
    let c = n
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** The CRC-32 of `bytes`, as zlib and PNG compute it: `crc32('123456789') === 0xcbf43926`. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/**
 * The UTF-8 JSON payload of a record that `parseRecord` already accepted.
 * @throws TwopcError `INVALID_RECORD` if the payload cannot be serialized (a cycle, a `BigInt`)
 */
export function encodeRecordPayload(record: LogRecord): Buffer {
  try {
    return Buffer.from(JSON.stringify(record), 'utf8')
  } catch (error) {
    throw new TwopcError(
      'INVALID_RECORD',
      `Invalid log record: expected \`payload\` to be JSON, but serializing it failed: ${(error as Error).message}`,
      { cause: error },
    )
  }
}

/** The payload of a forget note for `txId`. */
export function encodeForgetPayload(txId: TxId): Buffer {
  return Buffer.from(JSON.stringify({ forget: txId }), 'utf8')
}

/** Frames `payload`: length, checksum, payload. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
  frame.writeUInt32LE(payload.length, 0)
  frame.writeUInt32LE(crc32(payload), 4)
  frame.set(payload, FRAME_HEADER_BYTES)
  return frame
}

/**
 * Decodes a whole log file. A torn tail — what a crash during an unsynced write leaves — ends the
 * valid part (`validBytes`) and is the caller's to truncate. It is one of: a header cut short, a
 * payload cut short (its declared length runs past the end of the file), a last frame whose
 * checksum fails and that ends exactly at the end of the file, or zero bytes up to the end (a file
 * extended but whose data never reached the disk). Anything else that fails is corruption of data
 * that was once durable, and throws.
 *
 * @param path - the file, named in error messages
 * @param maxPayloadBytes - frames declaring more are corruption: no writer produced them
 * @throws TwopcError `LOG_CORRUPTED` naming `path` and the byte offset of the bad frame
 */
export function decodeLog(bytes: Uint8Array, path: string, maxPayloadBytes: number): DecodedLog {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const entries: LogEntry[] = []
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
    const payload = view.subarray(offset + FRAME_HEADER_BYTES, end)
    if (crc32(payload) !== view.readUInt32LE(offset + 4)) {
      if (end === view.length) break
      throw corrupted(path, offset, 'checksum mismatch, and more data follows the frame')
    }
    entries.push(decodeEntry(payload, path, offset))
    offset = end
  }
  return { entries, validBytes: offset }
}

/** Applies forget notes: each drops every earlier record of its transaction, and itself. */
export function replayEntries(entries: readonly LogEntry[]): ReplayedLog {
  const kept: (LogRecord | undefined)[] = []
  const indexesByTx = new Map<TxId, number[]>()
  for (const entry of entries) {
    if (entry.type === 'forget') {
      for (const index of indexesByTx.get(entry.txId) ?? []) kept[index] = undefined
      indexesByTx.delete(entry.txId)
      continue
    }
    const indexes = indexesByTx.get(entry.record.txId) ?? []
    indexes.push(kept.length)
    indexesByTx.set(entry.record.txId, indexes)
    kept.push(entry.record)
  }
  const liveByTx = new Map<TxId, number>()
  for (const [txId, indexes] of indexesByTx) liveByTx.set(txId, indexes.length)
  const records = kept.filter((record): record is LogRecord => record !== undefined)
  return { records, liveByTx, frames: entries.length }
}

function decodeEntry(payload: Buffer, path: string, offset: number): LogEntry {
  let value: unknown
  try {
    value = JSON.parse(payload.toString('utf8'))
  } catch {
    throw corrupted(path, offset, 'the checksum matches but the payload is not JSON')
  }
  if (typeof value === 'object' && value !== null && 'forget' in value && !('type' in value)) {
    if (isId(value.forget)) return { type: 'forget', txId: value.forget }
    throw corrupted(path, offset, 'the checksum matches but the forget note holds no transaction id')
  }
  try {
    return { type: 'record', record: parseRecord(value) }
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
