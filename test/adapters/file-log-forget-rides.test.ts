/**
 * Issue 14, "real fsyncs = forced appends": a forget note never costs an fsync of its own while
 * appends keep coming — it rides with the next append — and is still written (after a short
 * delay, or at close) when none comes. Exact sync counts on the real FileLog.
 */
import { describe, expect, it } from 'vitest'
import { FileLog } from '../../src/adapters/file-log.js'
import type { LogRecord } from '../../src/core/records.js'
import { fileLog, tempLogPath } from './temp-log.js'

const outcome = (txId: string): LogRecord => ({ type: 'outcome', txId, decision: 'commit' })

describe('FileLog forget notes', () => {
  it('ride with the next append: 20 appends, each forgotten a moment later, cost 20 syncs (not 40)', async () => {
    // No compaction in this test: it would add syncs of its own (the rewritten file and its directory).
    const log = fileLog({ path: await tempLogPath(), compactAfterRecords: 1_000_000 })
    await log.load()
    for (let i = 0; i < 20; i += 1) {
      await log.append([outcome(`tx-${i}`)])
      // As the runtime does: forget once the end is durable; the next append comes a moment later.
      void log.forget([`tx-${i}`])
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(log.stats().syncs).toBe(20)
    await log.close()
  })

  it('are written on their own when no append comes, and survive a restart', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path })
    await log.load()
    await log.append([outcome('tx-a'), outcome('tx-b')])
    await log.forget(['tx-a'])
    expect(log.stats().syncs).toBe(2)
    await log.close()
    const reopened = new FileLog({ path })
    expect((await reopened.load()).map((record) => record.txId)).toEqual(['tx-b'])
    await reopened.close()
  })

  it('still waiting at close are written by close', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path })
    await log.load()
    await log.append([outcome('tx-a'), outcome('tx-b')])
    const forgotten = log.forget(['tx-b'])
    await log.close()
    await forgotten
    const reopened = new FileLog({ path })
    expect((await reopened.load()).map((record) => record.txId)).toEqual(['tx-a'])
    await reopened.close()
  })
})
