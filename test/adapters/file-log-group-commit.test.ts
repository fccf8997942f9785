import { describe, expect, it } from 'vitest'
import type { FileLog } from '../../src/adapters/file-log.js'
import type { LogRecord } from '../../src/core/records.js'
import { fileLog, tempLogPath } from './temp-log.js'

const outcome = (txId: string): LogRecord => ({ type: 'outcome', txId, decision: 'commit' })

async function openLog(): Promise<FileLog> {
  const log = fileLog({ path: await tempLogPath() })
  await log.load()
  return log
}

/**
 * `clients` callers that each append one record at a time, waiting for each: a closed loop. With
 * `thinkMs`, each pauses 0…thinkMs between appends, so appends also arrive while a sync is in flight.
 */
async function closedLoop(
  log: FileLog,
  clients: number,
  appendsPerClient: number,
  thinkMs = 0,
): Promise<void> {
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = 0; i < appendsPerClient; i += 1) {
        if (thinkMs > 0)
          await new Promise((resolve) => setTimeout(resolve, (client * 7 + i * 3) % (thinkMs + 1)))
        await log.append([outcome(`tx-${client}-${i}`)])
      }
    }),
  )
}

function recordsPerSync(log: FileLog): number {
  const { records, syncs } = log.stats()
  return Math.round((records / syncs) * 10) / 10
}

describe('FileLog group commit', () => {
  it('1,000 concurrent appends share far fewer syncs than records', async () => {
    const log = await openLog()
    await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append([outcome(`tx-${i}`)])))
    const { records, appends, syncs } = log.stats()
    expect(records).toBe(1000)
    expect(appends).toBe(1000)
    expect(syncs).toBeLessThan(records / 10)
  })

  it('splits a burst larger than 8 MiB into several writes', async () => {
    const log = await openLog()
    const payload = 'x'.repeat(3 * 1024 * 1024)
    const appends = Array.from({ length: 4 }, (_, i) =>
      log.append([
        {
          type: 'prepared',
          txId: `tx-${i}`,
          coordinator: 'c',
          participants: ['p'],
          payload,
          onePhase: false,
        },
      ]),
    )
    await Promise.all(appends)
    expect(log.stats()).toMatchObject({ records: 4, syncs: 2 })
  })

  it('closed-loop clients keep sharing syncs while earlier ones are in flight', async () => {
    const log = await openLog()
    await closedLoop(log, 100, 10)
    const { records, syncs } = log.stats()
    expect(records).toBe(1000)
    expect(syncs).toBeLessThan(records / 10)
  })

  it('reports records per sync at 1, 100 and 1,000 concurrent appends', async () => {
    const rows: string[] = []
    for (const concurrent of [1, 100, 1000]) {
      const burst = await openLog()
      for (let round = 0; round < 5; round += 1) {
        await Promise.all(
          Array.from({ length: concurrent }, (_, i) => burst.append([outcome(`tx-${round}-${i}`)])),
        )
      }
      const loop = await openLog()
      await closedLoop(loop, concurrent, Math.max(2, Math.ceil(200 / concurrent)))
      const staggered = await openLog()
      await closedLoop(staggered, concurrent, Math.max(2, Math.ceil(200 / concurrent)), 2)
      const row = (name: string, log: FileLog) =>
        `${name} ${recordsPerSync(log)} (${log.stats().records} records / ${log.stats().syncs} syncs)`
      rows.push(
        `  ${String(concurrent).padStart(4)} concurrent: ${row('burst', burst)}; ${row('closed loop', loop)}; ` +
          row('closed loop with 0-2 ms pauses', staggered),
      )
      expect(recordsPerSync(burst)).toBeGreaterThanOrEqual(concurrent === 1 ? 1 : concurrent / 10)
    }
    console.log(`[FileLog group commit] records per fdatasync\n${rows.join('\n')}`)
  })
})
