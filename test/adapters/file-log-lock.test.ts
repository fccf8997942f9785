import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { LogRecord } from '../../src/core/records.js'
import { fileLog, tempLogPath } from './temp-log.js'

const end = (txId: string): LogRecord => ({ type: 'end', txId })

/** The pid of a process that has exited: what a lock left by `kill -9` holds. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  if (child.pid === undefined) throw new Error('could not spawn node')
  return child.pid
}

describe('FileLog lock', () => {
  it('a second instance on the same file gets LOG_LOCKED naming the file and the pid', async () => {
    const path = await tempLogPath()
    const first = fileLog({ path })
    await first.load()
    const second = fileLog({ path })
    const error = await second.load().catch((reason: unknown) => reason)
    expect(error).toMatchObject({ code: 'LOG_LOCKED' })
    expect((error as Error).message).toContain(path)
    expect((error as Error).message).toContain(`process ${process.pid}`)
    await first.append([end('tx-1')]) // the owner is unaffected
    await first.close()
    expect(await second.load()).toEqual([end('tx-1')])
  })

  it('holds the owner pid in <path>.lock and removes it on close', async () => {
    const path = await tempLogPath()
    const log = fileLog({ path })
    await log.load()
    expect((await readFile(`${path}.lock`, 'utf8')).split(' ')[0]).toBe(String(process.pid))
    await log.close()
    await expect(readFile(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('takes over a stale lock whose process is dead', async () => {
    const path = await tempLogPath()
    const pid = deadPid()
    await writeFile(`${path}.lock`, `${pid}\n`)
    const log = fileLog({ path })
    await log.load()
    expect(log.lastLoad?.staleLockPid).toBe(pid)
    expect((await readFile(`${path}.lock`, 'utf8')).split(' ')[0]).toBe(String(process.pid))
  })

  it('refuses a lock file that holds no pid rather than guess', async () => {
    const path = await tempLogPath()
    await writeFile(`${path}.lock`, '')
    await expect(fileLog({ path }).load()).rejects.toMatchObject({
      code: 'LOG_LOCKED',
      message: expect.stringContaining('holds no process id'),
    })
  })

  it('closing an instance whose lock was taken over leaves the new owner locked', async () => {
    const path = await tempLogPath()
    const abandoned = fileLog({ path })
    await abandoned.load()
    await writeFile(`${path}.lock`, `${deadPid()}\n`) // as if this owner had been killed
    const owner = fileLog({ path })
    await owner.load()
    await abandoned.close()
    await expect(fileLog({ path }).load()).rejects.toMatchObject({ code: 'LOG_LOCKED' })
  })
})
