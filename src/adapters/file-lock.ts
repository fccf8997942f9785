import type { FileHandle } from 'node:fs/promises'
import { open, readdir, readFile, readlink, rm, stat } from 'node:fs/promises'
import { threadId } from 'node:worker_threads'
import { TwopcError } from '../core/errors.js'
import { errorCode } from './fs-io.js'

/*
 * The exclusive lock of a FileLog. `<log>.lock` is one line naming its owner:
 *
 *   <pid> <token> start=<ticks> boot=<boot id> pidns=<inode> thread=<thread id>
 *
 * A pid alone cannot name a process: in a container the service is pid 1 in every life, and on a
 * host pids are reused. So the owner is also named by its start time (`/proc/<pid>/stat` field 22,
 * clock ticks since boot), the boot it ran in (`/proc/sys/kernel/random/boot_id`) and its pid
 * namespace (`readlink /proc/self/ns/pid`). Without a usable /proc (macOS; or `unshare --pid`
 * without `--mount-proc`, where /proc shows another namespace) only `<pid> <token>
 * thread=<thread id>` is written and the owner is judged by pid liveness alone. Lock files of
 * older versions (`<pid> <token>`, or just `<pid>`) are read the same way.
 */

/**
 * A lock file without a complete record (no pid, or no final newline) is being written right now,
 * or its creator crashed mid-write. Once it is older than this it is taken to be the latter.
 */
const INCOMPLETE_LOCK_STALE_MS = 5_000

/**
 * Tokens of the locks that live FileLog instances of this thread hold. Every other field of a lock
 * is the same for two instances in one process, so only this tells "another instance here" from a
 * lock no live instance holds.
 */
const heldTokens = new Set<string>()

/** Who holds a lock: fields a lock file may lack are `undefined`. */
interface Owner {
  readonly pid: number
  readonly token: string
  /** Clock ticks from boot to the process's start: with the pid, names one process of one boot. */
  readonly startTicks: string | undefined
  readonly bootId: string | undefined
  /** Inode of the pid namespace the pid belongs to; another one means the pid means nothing here. */
  readonly pidNamespace: string | undefined
  /** `worker_threads.threadId` of the FileLog's thread, which has its own {@link heldTokens}. */
  readonly thread: string | undefined
}

type Self = Omit<Owner, 'token'>

/**
 * Takes `<log>.lock` for a FileLog about to open `logPath`; called by `FileLog.load` before it
 * touches the log, and paired with {@link releaseLock} (also on failure). `token` must be unique
 * to the calling instance. Creates the lock exclusively; if one exists, takes it over when its
 * owner is gone and returns the owner's pid (`undefined` if it named none). The owner is gone when:
 * - the lock names a previous boot, or a pid namespace other than ours (a restarted container is
 *   pid 1 again in a new namespace) in which no process we can see has that pid and start time;
 * - it names our pid with another start time (a previous life), or names this very process (same
 *   pid, start time and thread) but no live FileLog instance here holds it (a lock of another
 *   thread of this process is refused: that thread may be alive);
 * - no process has its pid, the process is a zombie, or its start time differs (the pid was reused);
 * - it holds no complete record and is older than {@link INCOMPLETE_LOCK_STALE_MS} (its creator
 *   crashed while writing it).
 *
 * An owner we cannot see is taken for gone: a process in a sibling pid namespace (another
 * container) or on another machine sharing the file is not detected, so never point two of those
 * at one log. Two processes taking over one stale lock at the same instant can both succeed.
 * @throws TwopcError `LOG_LOCKED` naming the owner while it lives, or while an incomplete lock is
 *   younger than {@link INCOMPLETE_LOCK_STALE_MS}
 */
export async function acquireLock(
  lockPath: string,
  logPath: string,
  token: string,
): Promise<number | undefined> {
  const self = await ownIdentity()
  // Held from before the file exists: an instance of this thread reading it meanwhile must see it held.
  heldTokens.add(token)
  try {
    let stalePid: number | undefined
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (await createLockFile(lockPath, formatOwner({ ...self, token }))) return stalePid
      const found = await readLock(lockPath)
      if (found === undefined) continue // released meanwhile: try again
      const owner = parseOwner(found.content)
      if (owner === undefined) {
        if (found.ageMs < INCOMPLETE_LOCK_STALE_MS) {
          throw new TwopcError(
            'LOG_LOCKED',
            `Log file ${logPath} is locked: the lock file ${lockPath} holds no process id yet (its creator ` +
              'is writing it right now, or crashed while doing so); it is taken over once it is ' +
              `${INCOMPLETE_LOCK_STALE_MS / 1000} s old`,
          )
        }
      } else {
        const holder = await liveHolder(owner, self)
        if (holder !== undefined) {
          throw new TwopcError(
            'LOG_LOCKED',
            `Log file ${logPath} is locked by ${holder}; lock file ${lockPath}`,
          )
        }
      }
      stalePid = owner?.pid
      await rm(lockPath, { force: true })
    }
    throw new TwopcError(
      'LOG_LOCKED',
      `Log file ${logPath} is locked: another process took ${lockPath} first`,
    )
  } catch (error) {
    heldTokens.delete(token)
    throw error
  }
}

/**
 * Releases the lock of the instance with `token`: removes `lockPath` only if it is still ours (a
 * lock we lost may have been taken over). Called by `FileLog.close` and a failed `load`; idempotent.
 */
export async function releaseLock(lockPath: string, token: string): Promise<void> {
  try {
    const content = await readFile(lockPath, 'utf8').catch(() => '')
    if (parseOwner(content)?.token === token) await rm(lockPath, { force: true })
  } finally {
    heldTokens.delete(token) // only now: until the file is gone, another instance here must see it held
  }
}

/** Describes the owner for a `LOG_LOCKED` message if it may be alive; `undefined` if it is gone. */
async function liveHolder(owner: Owner, self: Self): Promise<string | undefined> {
  const named = `process ${owner.pid}`
  if (heldTokens.has(owner.token)) return `${named} (this process: close the other FileLog first)`
  if (differ(owner.bootId, self.bootId)) return undefined // the machine restarted since
  if (owner.pidNamespace !== undefined && differ(owner.pidNamespace, self.pidNamespace)) {
    const outerPid = await findInNamespace(owner.pidNamespace, owner.pid, owner.startTicks)
    if (outerPid === undefined) return undefined
    return `${named} of pid namespace ${owner.pidNamespace} (pid ${outerPid} in ours)`
  }
  if (owner.pid === self.pid) {
    if (differ(owner.startTicks, self.startTicks)) return undefined // our previous life
    // This very process: this thread holds no such lock, but another thread might.
    return differ(owner.thread, self.thread) ? `${named} (thread ${owner.thread} of this process)` : undefined
  }
  if (!exists(owner.pid)) return undefined
  if (self.startTicks === undefined) return named // no usable /proc: the pid is all we can check
  const live = await readProcStat(owner.pid)
  if (live === undefined) return named // hidden from us (hidepid): assume it is the owner
  if (live.zombie || differ(owner.startTicks, live.startTicks)) return undefined
  return named
}

/**
 * The pid, in our namespace, of the owner that lives in another pid namespace: visible when ours is
 * an ancestor of it (a host looking into a container) and we may read its /proc entries.
 */
async function findInNamespace(
  pidNamespace: string,
  pid: number,
  startTicks: string | undefined,
): Promise<number | undefined> {
  const entries = await readdir('/proc').catch(() => [])
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || (await readNamespace(entry)) !== pidNamespace) continue
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '')
    // NSpid lists the process's pid in each namespace from ours inwards; the last is its own.
    const innermost = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1)
    if (innermost !== String(pid)) continue
    const live = await readProcStat(Number(entry))
    if (live !== undefined && !live.zombie && !differ(startTicks, live.startTicks)) return Number(entry)
  }
  return undefined
}

let identity: Promise<Self> | undefined

/** What this process writes into its locks; read from /proc once. */
function ownIdentity(): Promise<Self> {
  identity ??= readOwnIdentity()
  return identity
}

async function readOwnIdentity(): Promise<Self> {
  const thread = String(threadId)
  const own = await readProcStat('self')
  // No /proc, or one that shows another pid namespace than ours: nothing in it describes us.
  if (own?.pid !== process.pid) {
    return { pid: process.pid, startTicks: undefined, bootId: undefined, pidNamespace: undefined, thread }
  }
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim()
  return {
    pid: process.pid,
    startTicks: own.startTicks,
    bootId: bootId === '' ? undefined : bootId,
    pidNamespace: await readNamespace('self'),
    thread,
  }
}

/** Fields of `/proc/<pid>/stat`: 1 (pid), 3 (state) and 22 (start time in clock ticks since boot). */
async function readProcStat(
  pid: number | 'self',
): Promise<{ pid: number; startTicks: string; zombie: boolean } | undefined> {
  const content = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  // Field 2 is the command name in parentheses, which may itself hold spaces and parentheses.
  const close = content?.lastIndexOf(')') ?? -1
  if (content === undefined || close < 0) return undefined
  const fields = content.slice(close + 2).split(' ') // fields[0] is field 3
  const startTicks = fields[19]
  if (startTicks === undefined || !/^\d+$/.test(startTicks)) return undefined
  const state = fields[0]
  return { pid: Number.parseInt(content, 10), startTicks, zombie: state === 'Z' || state === 'X' }
}

/** The inode of a process's pid namespace, from the link `pid:[4026531836]`. */
async function readNamespace(pid: string): Promise<string | undefined> {
  const link = await readlink(`/proc/${pid}/ns/pid`).catch(() => '')
  return /^pid:\[(\d+)\]$/.exec(link)?.[1]
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errorCode(error) === 'EPERM' // exists, but belongs to another user
  }
}

/** Whether two facts are both known and disagree; an unknown one proves nothing. */
function differ(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a !== b
}

function formatOwner(owner: Owner): string {
  const fields = [`${owner.pid}`, owner.token]
  if (owner.startTicks !== undefined) fields.push(`start=${owner.startTicks}`)
  if (owner.bootId !== undefined) fields.push(`boot=${owner.bootId}`)
  if (owner.pidNamespace !== undefined) fields.push(`pidns=${owner.pidNamespace}`)
  if (owner.thread !== undefined) fields.push(`thread=${owner.thread}`)
  return `${fields.join(' ')}\n`
}

/** The owner a lock file names, or `undefined` if it holds no complete record (no pid, no final newline). */
function parseOwner(content: string): Owner | undefined {
  if (!content.endsWith('\n')) return undefined
  const [pid = '', token = '', ...rest] = content.trim().split(/\s+/)
  if (!/^[1-9]\d*$/.test(pid)) return undefined
  const fields = new Map(
    rest.map((field) => [field.slice(0, field.indexOf('=')), field.slice(field.indexOf('=') + 1)]),
  )
  return {
    pid: Number(pid),
    token,
    startTicks: fields.get('start'),
    bootId: fields.get('boot'),
    pidNamespace: fields.get('pidns'),
    thread: fields.get('thread'),
  }
}

async function readLock(lockPath: string): Promise<{ content: string; ageMs: number } | undefined> {
  try {
    const [content, { mtimeMs }] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)])
    return { content, ageMs: Date.now() - mtimeMs }
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined
    throw error
  }
}

async function createLockFile(lockPath: string, line: string): Promise<boolean> {
  let handle: FileHandle
  try {
    handle = await open(lockPath, 'wx')
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false
    throw error
  }
  try {
    await handle.writeFile(line)
    await handle.sync()
  } catch (error) {
    await handle.close().catch(() => {})
    await rm(lockPath, { force: true })
    throw error
  }
  await handle.close()
  return true
}
