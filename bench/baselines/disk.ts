import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { closedLoop } from '../measure.js'
import type { MicroResult } from '../results.js'
import { GroupWriter } from './group-writer.js'

/** A record the size of a small twopc record. */
const RECORD = Buffer.alloc(128, 0x61)

/** The raw fdatasync rate: write 128 bytes, fdatasync, repeat; one at a time. */
export async function rawFdatasync(directory: string, durationMs: number): Promise<MicroResult> {
  const path = join(directory, 'raw-fdatasync.bin')
  const handle = await open(path, 'w')
  let position = 0
  const loop = await closedLoop(
    async () => {
      await handle.write(RECORD, 0, RECORD.length, position)
      position += RECORD.length
      await handle.datasync()
      const now = performance.now()
      return { decidedAt: now, completedAt: now }
    },
    { concurrency: 1, firstIndex: 0, durationMs },
  )
  await handle.close()
  await rm(path)
  return {
    name: 'raw fdatasync',
    operation: 'write 128 B + fdatasync',
    opsPerSecond: (loop.transactions * 1000) / loop.elapsedMs,
    latencyMs: loop.decision,
    detail: {},
  }
}

/** The raw group-commit writer: `concurrency` appenders of 128-byte records sharing writes and fdatasyncs. */
export async function rawGroupCommit(
  directory: string,
  concurrency: number,
  durationMs: number,
): Promise<MicroResult> {
  const path = join(directory, 'raw-group-commit.bin')
  const writer = await GroupWriter.open(path)
  const loop = await closedLoop(
    async () => {
      await writer.append(RECORD)
      const now = performance.now()
      return { decidedAt: now, completedAt: now }
    },
    { concurrency, firstIndex: 0, durationMs },
  )
  await writer.close()
  await rm(path)
  return {
    name: `raw group commit, ${concurrency} appenders`,
    operation: 'append 128 B, durable',
    opsPerSecond: (loop.transactions * 1000) / loop.elapsedMs,
    latencyMs: loop.decision,
    detail: { recordsPerSync: loop.transactions / writer.syncs },
  }
}
