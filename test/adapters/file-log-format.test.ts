import * as zlib from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  crc32,
  decodeLog,
  encodeForgetPayload,
  encodeFrames,
  framePayload,
  LiveSet,
  replayEntries,
} from '../../src/adapters/file-log-format.js'
import type { LogRecord } from '../../src/core/records.js'

const end = (txId: string): LogRecord => ({ type: 'end', txId })
const frameOf = (record: LogRecord) => encodeFrames([framePayload(JSON.stringify(record))])

describe('file log format', () => {
  it('computes the standard CRC-32 check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
    expect(crc32(new Uint8Array())).toBe(0)
  })

  it.runIf('crc32' in zlib)('agrees with zlib.crc32 on arbitrary bytes', () => {
    const reference = (zlib as unknown as { crc32(data: Uint8Array): number }).crc32
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => crc32(bytes) === reference(bytes)))
    const range = fc
      .uint8Array({ maxLength: 512 })
      .chain((bytes) => fc.tuple(fc.constant(bytes), fc.nat(bytes.length), fc.nat(bytes.length)))
    fc.assert(
      fc.property(range, ([bytes, a, b]) => {
        const [start, end] = a <= b ? [a, b] : [b, a]
        return crc32(bytes, start, end) === reference(bytes.subarray(start, end))
      }),
    )
  })

  it('frames several payloads into one buffer, each with its UTF-8 length and checksum', () => {
    const payloads = ['{"a":"x"}', '{"b":"é ✓ 😀"}', '{}'].map(framePayload)
    const bytes = encodeFrames(payloads)
    let at = 0
    for (const { json } of payloads) {
      const body = Buffer.from(json, 'utf8')
      expect(bytes.readUInt32LE(at)).toBe(body.length)
      expect(bytes.readUInt32LE(at + 4)).toBe(crc32(body))
      expect(bytes.subarray(at + 8, at + 8 + body.length).equals(body)).toBe(true)
      at += 8 + body.length
    }
    expect(at).toBe(bytes.length)
    expect(encodeFrames([]).length).toBe(0)
  })

  it('a forget note drops earlier records of its transaction only', () => {
    const bytes = Buffer.concat([
      frameOf(end('tx-a')),
      frameOf(end('tx-b')),
      encodeFrames([framePayload(encodeForgetPayload('tx-a'))]),
      frameOf(end('tx-a')),
    ])
    const decoded = decodeLog(bytes, '/log', 1024)
    expect(decoded.validBytes).toBe(bytes.length)
    const replayed = replayEntries(decoded.entries)
    expect(replayed.records).toEqual([end('tx-b'), end('tx-a')])
  })

  it('a live set keeps the values of live records in file order and counts every frame', () => {
    const live = new LiveSet<string>()
    live.add('tx-a', 'a1')
    live.add('tx-b', 'b1')
    live.add('tx-a', 'a2')
    live.add('tx-b', 'b1') // the same record twice is stored twice
    live.forget('tx-a')
    live.add('tx-a', 'a3')
    expect([...live.values()]).toEqual(['b1', 'b1', 'a3'])
    expect([...live.txIds()]).toEqual(['tx-b', 'tx-a'])
    expect({ frames: live.frames, size: live.size }).toEqual({ frames: 6, size: 3 })
    live.compacted()
    expect(live.frames).toBe(3)
  })

  it('a live set agrees with replaying its frames from the start, however many slots empty', () => {
    type Action = { type: 'add'; txId: string } | { type: 'forget'; txId: string } | { type: 'compacted' }
    const txId = fc.constantFrom('tx-a', 'tx-b', 'tx-c', 'tx-d', 'tx-e')
    const action: fc.Arbitrary<Action> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ type: fc.constant('add' as const), txId }) },
      { weight: 3, arbitrary: fc.record({ type: fc.constant('forget' as const), txId }) },
      { weight: 1, arbitrary: fc.constant({ type: 'compacted' as const }) },
    )
    fc.assert(
      fc.property(fc.array(action, { maxLength: 5000, size: 'max' }), (actions) => {
        const live = new LiveSet<number>()
        let model: { txId: string; value: number }[] = []
        let frames = 0
        actions.forEach((next, value) => {
          if (next.type === 'add') {
            live.add(next.txId, value)
            model.push({ txId: next.txId, value })
            frames += 1
          } else if (next.type === 'forget') {
            live.forget(next.txId)
            model = model.filter((entry) => entry.txId !== next.txId)
            frames += 1
          } else {
            live.compacted()
            frames = model.length
          }
        })
        expect(live.values()).toEqual(model.map((entry) => entry.value))
        expect(new Set(live.txIds())).toEqual(new Set(model.map((entry) => entry.txId)))
        expect({ frames: live.frames, size: live.size }).toEqual({ frames, size: model.length })
      }),
      { numRuns: 50 },
    )
  })
})
