import type { FileHandle } from 'node:fs/promises'
import { open, readFile, rm } from 'node:fs/promises'
import { TwopcError } from '../core/errors.js'
import { errorCode } from './fs-io.js'

/*
 * The exclusive lock of a FileLog: `<log>.lock` holds the owner's pid and a random token, so that
 * two processes (or two FileLog instances) never append to one log.
 */

/**
 * Takes `<log>.lock` by creating it exclusively with our pid and token. If it exists and its pid is
 * alive (this process included: another instance), rejects with `LOG_LOCKED`; if its pid is dead
 * (SIGKILL, power loss) takes it over and returns that pid. Two processes taking over the same
 * stale lock at the same instant can both succeed; a pid reused by an unrelated process makes a
 * stale lock look live (delete the lock file by hand).
 */
export async function acquireLock(
  lockPath: string,
  logPath: string,
  token: string,
): Promise<number | undefined> {
  let stalePid: number | undefined
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (await createLockFile(lockPath, token)) return stalePid
    const content = await readFile(lockPath, 'utf8').catch((error: unknown) => {
      if (errorCode(error) === 'ENOENT') return undefined // released meanwhile: try again
      throw error
    })
    if (content === undefined) continue
    const pid = /^(\d+)(\s|$)/.exec(content)?.[1]
    if (pid === undefined || Number(pid) <= 0) {
      throw new TwopcError(
        'LOG_LOCKED',
        `Log file ${logPath} is locked: the lock file ${lockPath} holds no process id (its creator ` +
          'is writing it right now, or crashed while doing so). If no process uses the log, delete the lock file',
      )
    }
    if (isAlive(Number(pid))) {
      const who = Number(pid) === process.pid ? ' (this process: close the other FileLog first)' : ''
      throw new TwopcError(
        'LOG_LOCKED',
        `Log file ${logPath} is locked by process ${pid}${who}; lock file ${lockPath}`,
      )
    }
    stalePid = Number(pid)
    await rm(lockPath, { force: true })
  }
  throw new TwopcError('LOG_LOCKED', `Log file ${logPath} is locked: another process took ${lockPath} first`)
}

async function createLockFile(lockPath: string, token: string): Promise<boolean> {
  let handle: FileHandle
  try {
    handle = await open(lockPath, 'wx')
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false
    throw error
  }
  try {
    await handle.writeFile(`${process.pid} ${token}\n`)
    await handle.sync()
  } catch (error) {
    await handle.close().catch(() => {})
    await rm(lockPath, { force: true })
    throw error
  }
  await handle.close()
  return true
}

/** Removes the lock only if it is still ours: someone may have taken a lock we lost over. */
export async function releaseLock(lockPath: string, token: string): Promise<void> {
  const content = await readFile(lockPath, 'utf8').catch(() => '')
  if (content.includes(token)) await rm(lockPath, { force: true })
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errorCode(error) === 'EPERM' // exists, but belongs to another user
  }
}
