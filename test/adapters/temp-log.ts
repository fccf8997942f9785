import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { FileLog, type FileLogOptions } from '../../src/adapters/file-log.js'

const directories: string[] = []
const logs: FileLog[] = []

afterEach(async () => {
  for (const log of logs.splice(0)) await log.close()
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true })
})

/** A log file path in a fresh directory under the OS temp dir; removed after the test. */
export async function tempLogPath(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'twopc-file-log-'))
  directories.push(directory)
  return join(directory, 'node.log')
}

/** A FileLog that is closed after the test (closing twice is harmless). */
export function fileLog(options: FileLogOptions): FileLog {
  const log = new FileLog(options)
  logs.push(log)
  return log
}
