/**
 * Issue 14: FileLog keeps the JSON of its live records in memory, so compaction writes them without
 * reading the file back or parsing what is dead.
 */
import { open, readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import {
  encodeForgetPayload,
  encodeFrames,
  FRAME_HEADER_BYTES,
  framePayload,
} from '../../src/adapters/file-log-format.js'
import type { LogRecord } from '../../src/core/records.js'
import { fileLog, tempLogPath } from './temp-log.js'

const outcome = (txId: string): LogRecord => ({ type: 'outcome', txId, decision: 'commit' })
const end = (txId: string): LogRecord => ({ type: 'end', txId })
const framesOf = (records: readonly LogRecord[]) =>
  Buffer.concat(records.map((record) => encodeFrames([framePayload(JSON.stringify(record))])))

describe('FileLog live set', () => {
  it('compacts without reading the file: damage in a forgotten record does not stop it', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path })
    await log.load()
    for (let i = 0; i < 10; i += 1) await log.append([outcome(`tx-${i}`), end(`tx-${i}`)])
    await log.forget(['tx-0', 'tx-2', 'tx-4', 'tx-6', 'tx-8'])
    // Flip a byte inside the payload of tx-0's first record, a frame nothing will read again. A
    // compaction that re-read the file would find a checksum mismatch with data after it.
    const file = await open(path, 'r+')
    const byte = Buffer.alloc(1)
    await file.read(byte, 0, 1, FRAME_HEADER_BYTES + 2)
    await file.write(Buffer.from([byte.readUInt8(0) ^ 0xff]), 0, 1, FRAME_HEADER_BYTES + 2)
    await file.close()
    await log.compact()
    const live = [1, 3, 5, 7, 9].flatMap((i) => [outcome(`tx-${i}`), end(`tx-${i}`)])
    expect(await readFile(path)).toEqual(framesOf(live))
    await log.close()
    expect(await fileLog({ path }).load()).toEqual(live)
  })

  it('after a restart, compaction writes the loaded live records in file order, duplicates included', async () => {
    const path = await tempLogPath()
    const first = fileLog({ path })
    await first.load()
    await first.append([outcome('tx-a'), outcome('tx-b')])
    await first.append([end('tx-a'), outcome('tx-b')]) // the same record twice is stored twice
    await first.forget(['tx-a'])
    await first.append([outcome('tx-a'), end('tx-c')]) // appended after the forget: stays
    await first.close()
    const live = [outcome('tx-b'), outcome('tx-b'), outcome('tx-a'), end('tx-c')]
    const log = fileLog({ path, compactAfterRecords: Number.POSITIVE_INFINITY })
    expect(await log.load()).toEqual(live)
    await log.compact()
    expect(await readFile(path)).toEqual(framesOf(live))
    await log.forget(['tx-b'])
    await log.append([end('tx-d')])
    await log.compact()
    expect(log.stats().compactions).toBe(2)
    await log.close()
    expect(await fileLog({ path }).load()).toEqual([outcome('tx-a'), end('tx-c'), end('tx-d')])
  })

  it('a compaction queued before an append does not write that append: it follows, once', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path, compactAfterRecords: Number.POSITIVE_INFINITY })
    await log.load()
    await log.append([outcome('tx-a'), outcome('tx-b')])
    await log.forget(['tx-a'])
    const compacted = log.compact()
    const appended = log.append([end('tx-b')]) // accepted now, written after the compaction
    const forgotten = log.forget(['tx-b']) // its note rides with it
    await Promise.all([compacted, appended, forgotten])
    const note = encodeFrames([framePayload(encodeForgetPayload('tx-b'))])
    expect(await readFile(path)).toEqual(Buffer.concat([framesOf([outcome('tx-b'), end('tx-b')]), note]))
    await log.compact()
    expect(await readFile(path)).toEqual(Buffer.alloc(0))
    await log.close()
    expect(await fileLog({ path }).load()).toEqual([])
  })
})
