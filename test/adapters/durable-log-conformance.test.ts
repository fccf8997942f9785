import { rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { MemoryLog } from '../../src/adapters/memory-log.js'
import { runDurableLogConformance } from '../../src/testing/durable-log-conformance.js'
import { fileLog, tempLogPath } from './temp-log.js'

runDurableLogConformance('MemoryLog', () => {
  const log = new MemoryLog()
  return { open: () => log, kill: () => log.crash() }
})

runDurableLogConformance('FileLog', async () => {
  const path = await tempLogPath()
  return {
    open: () => fileLog({ path }),
    // A killed process leaves its lock behind with a dead pid, which the next open takes over.
    // This process is alive, so remove the lock as that takeover would.
    kill: () => rm(`${path}.lock`),
    cleanup: () => rm(dirname(path), { recursive: true, force: true }),
  }
})
