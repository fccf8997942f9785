import { access, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { FileLogStep } from '../../src/adapters/file-log.js'
import type { LogRecord } from '../../src/core/records.js'
import { fileLog, tempLogPath } from './temp-log.js'

const outcome = (txId: string): LogRecord => ({ type: 'outcome', txId, decision: 'commit' })
const end = (txId: string): LogRecord => ({ type: 'end', txId })
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

/** tx-0…tx-9, two records each; returns the log, still open, after forgetting the even ones. */
async function halfForgotten(path: string, beforeStep?: (step: FileLogStep) => void) {
  const log = fileLog(beforeStep === undefined ? { path } : { path, io: { beforeStep } })
  await log.load()
  for (let i = 0; i < 10; i += 1) await log.append([outcome(`tx-${i}`), end(`tx-${i}`)])
  await log.forget(['tx-0', 'tx-2', 'tx-4', 'tx-6', 'tx-8'])
  const live = [1, 3, 5, 7, 9].flatMap((i) => [outcome(`tx-${i}`), end(`tx-${i}`)])
  return { log, live }
}

describe('FileLog compaction', () => {
  it('keeps exactly the live records, in order, and drops the forget notes', async () => {
    const path = await tempLogPath()
    const { log, live } = await halfForgotten(path)
    const before = (await stat(path)).size
    await log.compact()
    expect(log.stats().compactions).toBe(1)
    const after = await readFile(path)
    expect(after.length).toBeLessThan(before / 2)
    expect(after.toString('utf8')).not.toContain('forget')
    await log.append([end('tx-new')])
    await log.close()
    expect(await fileLog({ path }).load()).toEqual([...live, end('tx-new')])
  })

  it('forgotten records stay gone after a kill, before any compaction', async () => {
    const path = await tempLogPath()
    const { live } = await halfForgotten(path)
    await rm(`${path}.lock`) // the owner "dies" without close()
    expect(await fileLog({ path }).load()).toEqual(live)
  })

  it('compacts automatically once dead frames reach the threshold and half the file', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path, compactAfterRecords: 10 })
    await log.load()
    for (let i = 0; i < 10; i += 1) await log.append([outcome(`tx-${i}`), end(`tx-${i}`)])
    await log.forget(['tx-0', 'tx-1', 'tx-2']) // 9 dead frames: under the threshold
    await log.append([])
    expect(log.stats().compactions).toBe(0)
    await log.forget(['tx-3']) // 12 dead of 24 frames: compact
    await log.append([]) // queued behind the compaction
    expect(log.stats().compactions).toBe(1)
    await log.close()
    expect(await fileLog({ path }).load()).toHaveLength(12)
  })

  it('does not compact while dead frames are under half the file', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path, compactAfterRecords: 2 })
    await log.load()
    for (let i = 0; i < 10; i += 1) await log.append([outcome(`tx-${i}`), end(`tx-${i}`)])
    await log.forget(['tx-0', 'tx-1', 'tx-2']) // 9 dead of 23 frames
    await log.append([])
    expect(log.stats().compactions).toBe(0)
  })

  it('loses no append made while a compaction runs', async () => {
    const path = await tempLogPath()
    const { log, live } = await halfForgotten(path)
    const compacted = log.compact()
    const during = Array.from({ length: 200 }, (_, i) => end(`tx-during-${i}`))
    await Promise.all([compacted, ...during.map((record) => log.append([record]))])
    await log.close()
    expect(await fileLog({ path }).load()).toEqual([...live, ...during])
  })

  const steps: { step: FileLogStep; compactFileLeft: boolean }[] = [
    { step: 'compact-write', compactFileLeft: false },
    { step: 'compact-sync', compactFileLeft: true },
    { step: 'compact-rename', compactFileLeft: true },
    { step: 'compact-sync-directory', compactFileLeft: false },
  ]
  for (const { step, compactFileLeft } of steps) {
    it(`a crash before ${step} loads exactly the live records`, async () => {
      const path = await tempLogPath()
      let armed = false
      const { log, live } = await halfForgotten(path, (current) => {
        if (armed && current === step) throw new Error(`simulated crash before ${step}`)
      })
      armed = true
      await expect(log.compact()).rejects.toMatchObject({ code: 'LOG_IO' })
      await expect(log.append([end('tx-late')])).rejects.toMatchObject({ code: 'LOG_IO' })
      expect(await exists(`${path}.compact`)).toBe(compactFileLeft)
      await rm(`${path}.lock`) // die here, without close()
      const reopened = fileLog({ path })
      expect(await reopened.load()).toEqual(live)
      expect(reopened.lastLoad?.removedCompactFile).toBe(compactFileLeft)
      expect(await exists(`${path}.compact`)).toBe(false)
    })
  }

  it('ignores a half-written .compact file left by a crash', async () => {
    const path = await tempLogPath()
    const { log, live } = await halfForgotten(path)
    await log.close()
    const original = await readFile(path)
    await writeFile(`${path}.compact`, original.subarray(0, Math.floor(original.length / 3)))
    const reopened = fileLog({ path })
    expect(await reopened.load()).toEqual(live)
    expect(reopened.lastLoad?.removedCompactFile).toBe(true)
    expect(await readFile(path)).toEqual(original)
  })
})
