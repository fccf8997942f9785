import { readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { FileLog } from '../../src/adapters/file-log.js'
import { FRAME_HEADER_BYTES } from '../../src/adapters/file-log-format.js'
import { TwopcError } from '../../src/core/errors.js'
import type { LogRecord } from '../../src/core/records.js'
import { fileLog, tempLogPath } from './temp-log.js'

const prepared = (txId: string): LogRecord => ({
  type: 'prepared',
  txId,
  coordinator: 'coord',
  participants: ['bank-a', 'bank-b'],
  payload: { amount: 100, note: 'ünïcødé' },
  onePhase: false,
})
const THREE: readonly LogRecord[] = [
  prepared('tx-1'),
  { type: 'commit', txId: 'tx-2', participants: ['a'] },
  prepared('tx-3'),
]

/** Writes THREE, one append each, and returns the file and the byte offset of each frame. */
async function threeRecordLog(): Promise<{ path: string; bytes: Buffer; starts: number[] }> {
  const path = await tempLogPath()
  const log = fileLog({ path })
  await log.load()
  for (const record of THREE) await log.append([record])
  await log.close()
  const bytes = await readFile(path)
  const starts: number[] = []
  for (let offset = 0; offset < bytes.length; offset += FRAME_HEADER_BYTES + bytes.readUInt32LE(offset)) {
    starts.push(offset)
  }
  return { path, bytes, starts }
}

function flipBits(bytes: Buffer, offset: number, mask: number): void {
  bytes.writeUInt8(bytes.readUInt8(offset) ^ mask, offset)
}

async function loadError(path: string): Promise<TwopcError> {
  const error = await fileLog({ path })
    .load()
    .then(
      () => undefined,
      (reason: unknown) => reason,
    )
  expect(error).toBeInstanceOf(TwopcError)
  return error as TwopcError
}

describe('FileLog options', () => {
  it('rejects invalid options up front with exact messages', () => {
    const cases: [unknown, string][] = [
      [{ path: 3 }, 'Expected `path` to be a non-empty string, got 3'],
      [{ path: '' }, 'Expected `path` to be a non-empty string, got ""'],
      [
        { path: 'x', maxRecordBytes: 5 },
        'Expected `maxRecordBytes` to be an integer from 1024 to 4294967295, got 5',
      ],
      [
        { path: 'x', compactAfterRecords: 0 },
        'Expected `compactAfterRecords` to be a positive integer or Infinity, got 0',
      ],
      [{ path: 'x', io: {} }, 'Expected `io` to be an object with a `beforeStep` method, got an object'],
      [null, 'Expected `options` to be an object, got null'],
    ]
    for (const [options, message] of cases) {
      expect(() => new FileLog(options as never)).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS', message }),
      )
    }
  })
})

describe('FileLog', () => {
  it('round-trips records through a restart and reports a clean load', async () => {
    const { path, bytes } = await threeRecordLog()
    const log = fileLog({ path })
    expect(await log.load()).toEqual(THREE)
    expect(log.lastLoad).toEqual({
      records: 3,
      offset: bytes.length,
      truncatedBytes: 0,
      removedCompactFile: false,
      staleLockPid: undefined,
    })
  })

  it('frames each record as [u32 length][u32 CRC-32][UTF-8 JSON]', async () => {
    const { bytes, starts } = await threeRecordLog()
    const length = bytes.readUInt32LE(0)
    const payload = bytes.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length)
    expect(JSON.parse(payload.toString('utf8'))).toEqual(THREE[0])
    expect(starts[1]).toBe(FRAME_HEADER_BYTES + length)
    const zlib = await import('node:zlib')
    if ('crc32' in zlib)
      expect(bytes.readUInt32LE(4)).toBe((zlib.crc32 as (data: Uint8Array) => number)(payload))
  })

  it('refuses appends before load() and after close()', async () => {
    const log = fileLog({ path: await tempLogPath() })
    await expect(log.append([prepared('tx-1')])).rejects.toMatchObject({ code: 'NOT_STARTED' })
    await log.load()
    await log.close()
    await expect(log.append([prepared('tx-1')])).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(log.load()).rejects.toMatchObject({ code: 'CLOSED' })
    await log.close() // idempotent
  })

  it('a second load() reads back the records appended since the first', async () => {
    const log = fileLog({ path: await tempLogPath() })
    await log.load()
    await log.append([prepared('tx-1'), prepared('tx-2')])
    await log.forget(['tx-1'])
    expect(await log.load()).toEqual([prepared('tx-2')])
  })

  it('resolves appends in call order', async () => {
    const log = fileLog({ path: await tempLogPath() })
    await log.load()
    const resolved: number[] = []
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => log.append([prepared(`tx-${i}`)]).then(() => resolved.push(i))),
    )
    expect(resolved).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it('rejects a record over maxRecordBytes without writing anything, and stays usable', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path, maxRecordBytes: 2048 })
    await log.load()
    const big = { ...prepared('tx-big'), payload: 'x'.repeat(2048) }
    await expect(log.append([prepared('tx-1'), big])).rejects.toMatchObject({
      code: 'INVALID_RECORD',
      message: expect.stringContaining('more than `maxRecordBytes` (2048)'),
    })
    expect((await stat(path)).size).toBe(0)
    await log.append([prepared('tx-2')])
    await log.close()
    expect(await fileLog({ path, maxRecordBytes: 2048 }).load()).toEqual([prepared('tx-2')])
  })
})

describe('FileLog torn tails', () => {
  it('truncates a torn last record at every byte offset and loads the rest', async () => {
    const { path, bytes, starts } = await threeRecordLog()
    const lastStart = starts[2] as number
    for (let cut = lastStart; cut < bytes.length; cut += 1) {
      await writeFile(path, bytes.subarray(0, cut))
      const log = fileLog({ path })
      expect(await log.load(), `cut at ${cut}`).toEqual(THREE.slice(0, 2))
      expect(log.lastLoad).toMatchObject({ offset: lastStart, truncatedBytes: cut - lastStart })
      await log.close()
      expect((await stat(path)).size).toBe(lastStart)
    }
  })

  it('appends after a repaired tail load back with the records before it', async () => {
    const { path, bytes, starts } = await threeRecordLog()
    await writeFile(path, bytes.subarray(0, (starts[2] as number) + 11))
    const log = fileLog({ path })
    await log.load()
    await log.append([prepared('tx-after')])
    await log.close()
    expect(await fileLog({ path }).load()).toEqual([...THREE.slice(0, 2), prepared('tx-after')])
  })

  it('treats a last frame whose checksum fails at the end of the file as torn', async () => {
    const { path, bytes, starts } = await threeRecordLog()
    flipBits(bytes, bytes.length - 3, 0x01)
    await writeFile(path, bytes)
    const log = fileLog({ path })
    expect(await log.load()).toEqual(THREE.slice(0, 2))
    expect(log.lastLoad).toMatchObject({
      offset: starts[2],
      truncatedBytes: bytes.length - (starts[2] as number),
    })
  })

  it('treats zero bytes up to the end of the file as torn (extended, data never written)', async () => {
    const { path, bytes } = await threeRecordLog()
    await truncate(path, bytes.length + 4096)
    const log = fileLog({ path })
    expect(await log.load()).toEqual(THREE)
    expect(log.lastLoad).toMatchObject({ offset: bytes.length, truncatedBytes: 4096 })
  })
})

describe('FileLog corruption', () => {
  it('rejects a flipped byte in a middle record with LOG_CORRUPTED naming the file and offset', async () => {
    const { path, bytes, starts } = await threeRecordLog()
    flipBits(bytes, (starts[1] as number) + FRAME_HEADER_BYTES + 5, 0x20)
    await writeFile(path, bytes)
    const error = await loadError(path)
    expect(error.code).toBe('LOG_CORRUPTED')
    expect(error.message).toContain(path)
    expect(error.message).toContain(`byte offset ${starts[1]}`)
    expect(await readFile(path)).toEqual(bytes) // nothing repaired, nothing lost
    expect((await loadError(path)).code).toBe('LOG_CORRUPTED') // the lock was released
  })

  it('rejects a middle length that points past the end instead of truncating valid records', async () => {
    const { path, bytes, starts } = await threeRecordLog()
    bytes[(starts[1] as number) + 3] = 0x7f
    await writeFile(path, bytes)
    const error = await loadError(path)
    expect(error).toMatchObject({
      code: 'LOG_CORRUPTED',
      message: expect.stringContaining(`offset ${starts[1]}`),
    })
  })

  it('rejects a frame whose checksum matches but whose record is invalid, even at the end', async () => {
    const path = await tempLogPath()
    const { encodeFrames, framePayload } = await import('../../src/adapters/file-log-format.js')
    await writeFile(path, encodeFrames([framePayload(JSON.stringify({ type: 'end', txId: '' }))]))
    const error = await loadError(path)
    expect(error).toMatchObject({ code: 'LOG_CORRUPTED', message: expect.stringContaining('offset 0') })
  })
})

describe('FileLog at a path that holds something else', () => {
  // Found by review: the whole of such a file passed for a torn tail at offset 0 and was cut to
  // nothing, and the node started on it as a new log.
  const gzip = Buffer.from('1f8b0800000000000003edc1010d000000c2a0f74f6d0e37a00000000000000000', 'hex')
  it.each([
    ['a gzip file (its first word reads as a plausible length)', gzip],
    ['a short text file', Buffer.from('hello\n')],
    ['three bytes', Buffer.from('hi\n')],
    [
      'a whole header followed by something else',
      Buffer.concat([Buffer.from([20, 0, 0, 0, 1, 2, 3, 4]), Buffer.from('not json')]),
    ],
  ])('refuses %s with LOG_CORRUPTED and leaves it whole', async (_, bytes) => {
    const path = await tempLogPath()
    await writeFile(path, bytes)
    const error = await loadError(path)
    expect(error).toMatchObject({
      code: 'LOG_CORRUPTED',
      message: expect.stringContaining('not a twopc log'),
    })
    expect(await readFile(path)).toEqual(bytes)
  })

  it('still truncates a new log whose first frame was torn after its first sector', async () => {
    const { path, bytes, starts } = await threeRecordLog()
    const first = bytes.subarray(0, starts[1])
    const torn = Buffer.concat([first.subarray(0, 12), Buffer.alloc(first.length - 12)])
    await writeFile(path, torn)
    const log = fileLog({ path })
    expect(await log.load()).toEqual([])
    expect(log.lastLoad).toMatchObject({ offset: 0, truncatedBytes: torn.length })
    await log.close()
  })
})

describe('FileLog I/O errors', () => {
  for (const failing of ['write', 'sync'] as const) {
    it(`a failed ${failing} rejects that append and every later one with LOG_IO, never retrying`, async () => {
      const path = await tempLogPath()
      const cause = new Error(`EIO: simulated ${failing} failure`)
      let armed = false
      const steps: string[] = []
      const log = fileLog({
        path,
        io: {
          beforeStep: (step) => {
            steps.push(step)
            if (armed && step === failing) throw cause
          },
        },
      })
      await log.load()
      await log.append([prepared('tx-1')])
      armed = true
      const first = log.append([prepared('tx-2')])
      const sameBatch = log.append([prepared('tx-3')])
      await expect(first).rejects.toMatchObject({ code: 'LOG_IO', cause })
      await expect(sameBatch).rejects.toMatchObject({ code: 'LOG_IO', cause })
      armed = false // even once the disk "recovers", the log stays failed
      const stepsBefore = steps.length
      await expect(log.append([prepared('tx-4')])).rejects.toMatchObject({ code: 'LOG_IO', cause })
      await expect(log.compact()).rejects.toMatchObject({ code: 'LOG_IO' })
      await expect(log.forget(['tx-1'])).resolves.toBeUndefined()
      expect(steps.length).toBe(stepsBefore)
      await log.close()
      const reloaded = await fileLog({ path }).load()
      expect(reloaded[0]).toEqual(prepared('tx-1'))
    })
  }

  it('an I/O error while opening rejects load() with LOG_IO naming the file', async () => {
    const path = `${await tempLogPath()}-missing-dir/node.log`
    await expect(fileLog({ path }).load()).rejects.toMatchObject({
      code: 'LOG_IO',
      message: expect.stringContaining(path),
    })
  })
})
