import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { EXIT, run, USAGE } from '../../src/cli/run.js'
import type { LogRecord } from '../../src/core/records.js'
import { fileLog, tempLogPath } from '../adapters/temp-log.js'

/** Runs `twopc` in-process, collecting what it prints. */
async function twopc(...args: string[]) {
  let stdout = ''
  let stderr = ''
  const code = await run(args, { out: (text) => (stdout += text), err: (text) => (stderr += text) })
  return { code, stdout, stderr }
}

const START: LogRecord = { type: 'incarnation', txId: '~inc:1', n: 1, node: 'coord', role: 'coordinator' }

/** A coordinator's log with `finished` ended commits and one unfinished, written by FileLog and closed. */
async function coordinatorLog(finished: number): Promise<string> {
  const path = await tempLogPath()
  const log = fileLog({ path })
  await log.load()
  await log.append([START])
  for (let i = 0; i < finished; i += 1)
    await log.append([
      { type: 'commit', txId: `t${i}`, participants: ['a'] },
      { type: 'end', txId: `t${i}` },
    ])
  await log.append([{ type: 'commit', txId: 'open', participants: ['a', 'b'] }])
  await log.close()
  return path
}

describe('twopc command line', () => {
  it.each([
    [[], 'missing command'],
    [['check', 'x.log'], "unknown command 'check'"],
    [['inspect'], 'missing the log file path'],
    [['inspect', 'a.log', 'b.log'], "unexpected argument 'b.log'"],
    [['inspect', 'a.log', '--recent=-1'], 'expected --recent to be a whole number from 0 to'],
    [['inspect', 'a.log', '--recent', '2.5'], 'expected --recent to be a whole number from 0 to'],
    [
      ['inspect', 'a.log', '--max-record-bytes', '0'],
      "expected --max-record-bytes to be a whole number from 1 to 4294967295, got '0'",
    ],
    [['inspect', 'a.log', '--lines'], "Unknown option '--lines'"],
  ])('%j is a usage error: exit 1, the reason and the usage line', async (args, reason) => {
    const { code, stdout, stderr } = await twopc(...args)
    expect(code).toBe(EXIT.usage)
    expect(stdout).toBe('')
    expect(stderr).toContain(`twopc: ${reason}`)
    expect(stderr.endsWith(`${USAGE}\n`)).toBe(true)
  })

  it('--help prints the usage line and exits 0', async () => {
    expect(await twopc('--help')).toEqual({ code: EXIT.ok, stdout: `${USAGE}\n`, stderr: '' })
  })

  it('a log that does not exist exits 2 naming the file', async () => {
    const { code, stderr } = await twopc('inspect', '/nonexistent/twopc.log')
    expect(code).toBe(EXIT.unreadable)
    expect(stderr).toContain('Cannot open log file /nonexistent/twopc.log')
  })

  it('inspects a coordinator log: the open commit, and the last K finished with --recent K', async () => {
    const path = await coordinatorLog(5)
    const { code, stdout } = await twopc('inspect', path, '--recent', '2', '--json')
    expect(code).toBe(EXIT.ok)
    expect(JSON.parse(stdout)).toMatchObject({
      owner: { node: 'coord', role: 'coordinator', life: 1 },
      committing: [{ txId: 'open', participants: ['a', 'b'] }],
      recent: [
        { txId: 't3', decision: 'commit' },
        { txId: 't4', decision: 'commit' },
      ],
      finished: 5,
      tailBytes: 0,
    })
  })

  it('a torn tail (an append in progress) is reported, not an error, and the file is left as it is', async () => {
    const path = await coordinatorLog(1)
    // The first 5 bytes of a frame header: what a reader sees while the service writes.
    await appendFile(path, Buffer.from([40, 0, 0, 0, 9]))
    const before = await readFile(path)
    const { code, stdout, stderr } = await twopc('inspect', path)
    expect({ code, stderr }).toEqual({ code: EXIT.ok, stderr: '' })
    expect(stdout).toContain('Frames  4 (4 live records); tail being written: 5 bytes\n')
    expect(stdout).toContain('Committing (commit decided, acks missing): 1\n')
    // FileLog.load() would truncate the tail; inspect never writes.
    expect(await readFile(path)).toEqual(before)
  })

  // Found by review: a length no FileLog would write passed for "tail being written", exit 0, on a
  // log load() refuses.
  it('a frame declaring more than maxRecordBytes exits 2 as load() would; --max-record-bytes raises the bound', async () => {
    const path = await coordinatorLog(1)
    const valid = (await readFile(path)).length
    await appendFile(path, Buffer.concat([Buffer.from([0, 0, 0, 2, 0, 0, 0, 0]), Buffer.from('{"type"')]))
    const refused = await twopc('inspect', path)
    expect(refused.code).toBe(EXIT.unreadable)
    expect(refused.stderr).toContain(`corrupted at byte offset ${valid}: the frame declares 33554432 bytes`)
    expect(refused.stderr).toContain(
      'written with a larger one, pass it: --max-record-bytes N (if not, check the path)',
    )
    const raised = await twopc('inspect', path, '--max-record-bytes', String(64 * 1024 * 1024))
    expect(raised.code).toBe(EXIT.ok)
    expect(raised.stdout).toContain('tail being written: 15 bytes')
  })

  it('a file that is not a twopc log exits 2', async () => {
    const path = await tempLogPath()
    await writeFile(path, 'hello\n')
    const { code, stderr } = await twopc('inspect', path)
    expect(code).toBe(EXIT.unreadable)
    expect(stderr).toContain('not a twopc log')
  })

  it('a corrupt frame in the middle exits 2 with its byte offset, and the file is left as it is', async () => {
    const path = await coordinatorLog(1)
    const bytes = await readFile(path)
    const firstFrameLength = 8 + bytes.readUInt32LE(0)
    const flipped = firstFrameLength + 8 + 2 // a payload byte of the second frame
    bytes.writeUInt8(bytes.readUInt8(flipped) ^ 0xff, flipped)
    await writeFile(path, bytes)
    const { code, stdout, stderr } = await twopc('inspect', path)
    expect(code).toBe(EXIT.unreadable)
    expect(stdout).toBe('')
    expect(stderr).toContain(
      `Log file ${path} is corrupted at byte offset ${firstFrameLength}: checksum mismatch`,
    )
    expect(await readFile(path)).toEqual(bytes)
  })
})
