import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFile, utimes, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { fileLog, tempLogPath } from './temp-log.js'

const HOLDER = fileURLToPath(new URL('./file-lock-holder.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url)) // where `--import tsx` resolves
const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc'] as const

/** Why this machine cannot run a process as pid 1 of a new pid namespace, or `undefined` if it can. */
function unshareProblem(): string | undefined {
  if (process.platform !== 'linux') return `pid namespaces are Linux-only (this is ${process.platform})`
  const probe = spawnSync(UNSHARE[0], [...UNSHARE.slice(1), 'true'], { encoding: 'utf8' })
  if (probe.error !== undefined) return `\`${UNSHARE.join(' ')} true\` could not run: ${probe.error.message}`
  if (probe.status !== 0) return `\`${UNSHARE.join(' ')} true\` failed: ${probe.stderr.trim()}`
  return undefined
}
const NO_NAMESPACES = unshareProblem()
if (NO_NAMESPACES !== undefined) console.warn(`Skipping the pid-namespace lock tests: ${NO_NAMESPACES}`)

/** A holder process (file-lock-holder.ts), alone in its own process group, and its first line. */
interface Holder {
  readonly child: ChildProcessWithoutNullStreams
  /** `READY pid=… records=…` or `ERROR <code> <message>`. */
  readonly line: Promise<string>
}

const running: Holder[] = []

afterEach(async () => {
  for (const holder of running.splice(0)) await killGroup(holder)
})

/** Starts a holder on `path`, as pid 1 of a new pid namespace if `inNamespace`. */
function startHolder(path: string, inNamespace: boolean): Holder {
  const command = [...(inNamespace ? UNSHARE : []), process.execPath, '--import', 'tsx', HOLDER, path]
  const child = spawn(command[0] as string, command.slice(1), { cwd: ROOT, detached: true })
  child.stderr.pipe(process.stderr)
  const line = new Promise<string>((resolve, reject) => {
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const end = output.indexOf('\n')
      if (end >= 0) resolve(output.slice(0, end))
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => reject(new Error(`holder exited before a line (${code ?? signal})`)))
  })
  const holder = { child, line }
  running.push(holder)
  return holder
}

/**
 * SIGKILLs the holder's whole process group (with `unshare`, both unshare and the pid 1 it forked)
 * and resolves once no process of the group is left.
 */
async function killGroup({ child }: Holder): Promise<void> {
  const group = child.pid as number
  const exited = child.exitCode !== null || child.signalCode !== null
  const exit = exited ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve))
  signalGroup(group, 'SIGKILL')
  await exit
  for (let wait = 0; signalGroup(group, 0); wait += 1) {
    if (wait === 500) throw new Error(`process group ${group} still has processes after SIGKILL`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Sends `signal` to every process of `group`; false if the group has no process left. */
function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-group, signal)
    return true
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ESRCH') return false
    throw error
  }
}

/** The pid of a process that has exited: what a lock left by `kill -9` holds. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  if (child.pid === undefined) throw new Error('could not spawn node')
  return child.pid
}

/** A live process that is not a FileLog owner, killed after the test. */
function bystander(): Holder {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { detached: true })
  const holder = { child, line: Promise.resolve('') }
  running.push(holder)
  return holder
}

/** `start=…`, `boot=…`, `pidns=…` and `thread=…` as this process writes them in its lock files. */
async function ownLockFields(): Promise<Map<string, string>> {
  const path = await tempLogPath()
  const log = fileLog({ path })
  await log.load()
  const fields = await lockFields(path)
  await log.close()
  return fields
}

async function lockFields(path: string): Promise<Map<string, string>> {
  const [, , ...fields] = (await readFile(`${path}.lock`, 'utf8')).trim().split(' ')
  return new Map(fields.map((field) => field.split('=') as [string, string]))
}

/** Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot. */
async function startTicks(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string
}

describe('FileLog lock across process lives', () => {
  it.skipIf(NO_NAMESPACES !== undefined)(
    "a container restarted after SIGKILL (pid 1 again, in a new pid namespace) takes over its previous life's lock",
    async () => {
      const path = await tempLogPath()
      const first = startHolder(path, true)
      expect(await first.line).toBe('READY pid=1 records=0')
      await killGroup(first)
      expect((await readFile(`${path}.lock`, 'utf8')).split(' ')[0]).toBe('1') // left behind by the kill

      const second = startHolder(path, true)
      expect(await second.line).toBe('READY pid=1 records=1')
    },
    30_000,
  )

  it.skipIf(NO_NAMESPACES !== undefined)(
    "a host process sees a live owner inside a container's pid namespace and gets LOG_LOCKED",
    async () => {
      const path = await tempLogPath()
      const owner = startHolder(path, true)
      expect(await owner.line).toBe('READY pid=1 records=0')
      const { pidns } = Object.fromEntries(await lockFields(path))
      const intruder = startHolder(path, false)
      expect(await intruder.line).toMatch(
        new RegExp(`^ERROR LOG_LOCKED .*process 1 of pid namespace ${pidns} \\(pid \\d+ in ours\\)`),
      )
    },
    30_000,
  )

  it('a second live process on the log gets LOG_LOCKED naming the holder', async () => {
    const path = await tempLogPath()
    const owner = startHolder(path, false)
    expect(await owner.line).toBe(`READY pid=${owner.child.pid} records=0`)
    const intruder = startHolder(path, false)
    const line = await intruder.line
    expect(line).toMatch(/^ERROR LOG_LOCKED /)
    expect(line).toContain(`locked by process ${owner.child.pid};`)
    expect(line).toContain(path)
  }, 30_000)

  it('a lock left by a host process killed with SIGKILL is taken over', async () => {
    const path = await tempLogPath()
    const killed = startHolder(path, false)
    expect(await killed.line).toBe(`READY pid=${killed.child.pid} records=0`)
    await killGroup(killed)
    const log = fileLog({ path })
    expect(await log.load()).toEqual([{ type: 'end', txId: 'tx-0' }])
    expect(log.lastLoad?.staleLockPid).toBe(killed.child.pid)
  }, 30_000)
})

describe('FileLog lock within one process', () => {
  it('a second FileLog instance on the same file gets LOG_LOCKED', async () => {
    const path = await tempLogPath()
    await fileLog({ path }).load()
    await expect(fileLog({ path }).load()).rejects.toMatchObject({
      code: 'LOG_LOCKED',
      message: expect.stringContaining(
        `process ${process.pid} (this process: close the other FileLog first)`,
      ),
    })
  })

  it.skipIf(process.platform !== 'linux')(
    'a lock naming this very process that no live instance holds is taken over',
    async () => {
      const path = await tempLogPath()
      const fields = [...(await ownLockFields())].map(([key, value]) => `${key}=${value}`)
      await writeFile(`${path}.lock`, `${process.pid} ${randomUUID()} ${fields.join(' ')}\n`)
      const log = fileLog({ path })
      await log.load()
      expect(log.lastLoad?.staleLockPid).toBe(process.pid)
    },
  )

  it('a lock naming this process but another thread is refused', async () => {
    const path = await tempLogPath()
    const fields = await ownLockFields()
    fields.set('thread', '999')
    const line = [...fields].map(([key, value]) => `${key}=${value}`).join(' ')
    await writeFile(`${path}.lock`, `${process.pid} ${randomUUID()} ${line}\n`)
    await expect(fileLog({ path }).load()).rejects.toMatchObject({
      code: 'LOG_LOCKED',
      message: expect.stringContaining('thread 999 of this process'),
    })
  })
})

describe.skipIf(process.platform !== 'linux')('FileLog lock naming a live pid of another process', () => {
  async function lockNaming(pid: number, change: Record<string, string>): Promise<string> {
    const path = await tempLogPath()
    const fields = await ownLockFields()
    fields.set('start', await startTicks(pid))
    for (const [key, value] of Object.entries(change)) fields.set(key, value)
    const line = [...fields].map(([key, value]) => `${key}=${value}`).join(' ')
    await writeFile(`${path}.lock`, `${pid} ${randomUUID()} ${line}\n`)
    return path
  }

  it('is refused while that process is the one that wrote it', async () => {
    const pid = bystander().child.pid as number
    await expect(fileLog({ path: await lockNaming(pid, {}) }).load()).rejects.toMatchObject({
      code: 'LOG_LOCKED',
      message: expect.stringContaining(`locked by process ${pid};`),
    })
  })

  it('is taken over when the process started at another time (its pid was reused)', async () => {
    const pid = bystander().child.pid as number
    const log = fileLog({ path: await lockNaming(pid, { start: '1' }) })
    await log.load()
    expect(log.lastLoad?.staleLockPid).toBe(pid)
  })

  it('is taken over when it was written before the machine restarted', async () => {
    const pid = bystander().child.pid as number
    const log = fileLog({ path: await lockNaming(pid, { boot: randomUUID() }) })
    await log.load()
    expect(log.lastLoad?.staleLockPid).toBe(pid)
  })
})

describe('FileLog lock files of older versions and of crashed creators', () => {
  it('an old-format lock `<pid> <token>` of a dead process is taken over', async () => {
    const path = await tempLogPath()
    const pid = deadPid()
    await writeFile(`${path}.lock`, `${pid} ${randomUUID()}\n`)
    const log = fileLog({ path })
    await log.load()
    expect(log.lastLoad?.staleLockPid).toBe(pid)
  })

  it("an old-format lock naming this process's pid (a container's previous life) is taken over", async () => {
    const path = await tempLogPath()
    await writeFile(`${path}.lock`, `${process.pid} ${randomUUID()}\n`)
    const log = fileLog({ path })
    await log.load()
    expect(log.lastLoad?.staleLockPid).toBe(process.pid)
    expect((await readFile(`${path}.lock`, 'utf8')).split(' ')[0]).toBe(String(process.pid))
  })

  it('an empty lock file is refused while fresh and taken over once it is old', async () => {
    const path = await tempLogPath()
    await writeFile(`${path}.lock`, '')
    await expect(fileLog({ path }).load()).rejects.toMatchObject({
      code: 'LOG_LOCKED',
      message: expect.stringContaining('holds no process id yet'),
    })
    const minuteAgo = new Date(Date.now() - 60_000)
    await utimes(`${path}.lock`, minuteAgo, minuteAgo) // its creator crashed a minute ago
    const log = fileLog({ path })
    await log.load()
    expect(log.lastLoad?.staleLockPid).toBeUndefined()
    expect((await readFile(`${path}.lock`, 'utf8')).split(' ')[0]).toBe(String(process.pid))
  })
})
