import * as zlib from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  crc32,
  decodeLog,
  encodeForgetPayload,
  encodeFrame,
  replayEntries,
} from '../../src/adapters/file-log-format.js'
import type { LogRecord } from '../../src/core/records.js'

const end = (txId: string): LogRecord => ({ type: 'end', txId })
const frameOf = (record: LogRecord) => encodeFrame(Buffer.from(JSON.stringify(record)))

describe('file log format', () => {
  it('computes the standard CRC-32 check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
    expect(crc32(new Uint8Array())).toBe(0)
  })

  it.runIf('crc32' in zlib)('agrees with zlib.crc32 on arbitrary bytes', () => {
    const reference = (zlib as unknown as { crc32(data: Uint8Array): number }).crc32
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => crc32(bytes) === reference(bytes)))
  })

  it('a forget note drops earlier records of its transaction only', () => {
    const bytes = Buffer.concat([
      frameOf(end('tx-a')),
      frameOf(end('tx-b')),
      encodeFrame(encodeForgetPayload('tx-a')),
      frameOf(end('tx-a')),
    ])
    const decoded = decodeLog(bytes, '/log', 1024)
    expect(decoded.validBytes).toBe(bytes.length)
    const replayed = replayEntries(decoded.entries)
    expect(replayed.records).toEqual([end('tx-b'), end('tx-a')])
    expect(replayed.frames).toBe(4)
    expect([...replayed.liveByTx]).toEqual([
      ['tx-b', 1],
      ['tx-a', 1],
    ])
  })
})
