import { type ChildProcess, execFile, fork } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { Coordinator, MemoryLog, MemoryNetwork, Participant, type Transport } from '../../src/index.js'

const run = promisify(execFile)
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts')
const CHILD = join(import.meta.dirname, 'inspect-child.ts')

/** `twopc inspect <args>` as an operator runs it, in its own process; never rejects. */
async function twopc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', MAIN, ...args])
    return { code: 0, stdout, stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, stdout, stderr }
  }
}

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Forks participant bank-a on a FileLog at `path`; resolves once it has started (holding the lock). */
async function startChild(path: string): Promise<ChildProcess> {
  const child = fork(CHILD, [path], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  cleanups.push(async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  })
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the child exited before starting (${code})`)))
    child.on('message', (value: { kind: string }) => {
      if (value.kind === 'started') resolve()
    })
  })
  return child
}

/** Asks the child which transactions it holds in doubt. */
function inDoubtIn(child: ChildProcess): Promise<string[]> {
  return new Promise((resolve) => {
    const listener = (value: { kind: string; inDoubt?: string[] }) => {
      if (value.kind !== 'status') return
      child.off('message', listener)
      resolve(value.inDoubt ?? [])
    }
    child.on('message', listener)
    child.send({ kind: 'status' })
  })
}

describe('twopc inspect on the log of a running service', () => {
  it('lists the in-doubt and finished transactions of a live participant without touching its log or its lock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twopc-inspect-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'bank-a.log')
    const child = await startChild(path)

    // The coordinator and bank-b run here; bank-a is the child, reached over IPC. While `cut`,
    // only prepares reach bank-a: it votes, then never learns the outcome.
    let cut = false
    const net = new MemoryNetwork()
    const local = net.connect('coord')
    const transport: Transport = {
      send: (message) => {
        if (message.to !== 'bank-a') return local.send(message)
        if (!cut || message.type === 'prepare') child.send({ kind: 'message', message })
      },
      onMessage: (handler) => {
        local.onMessage(handler)
        child.on('message', (value: { kind: string; message?: { to: string } }) => {
          if (value.kind === 'message' && value.message?.to === 'coord') handler(value.message)
        })
      },
    }
    const coordinator = new Coordinator({ id: 'coord', transport, log: new MemoryLog() })
    const bankB = new Participant({
      id: 'bank-b',
      transport: net.connect('bank-b'),
      log: new MemoryLog(),
      resource: { prepare: () => 'yes', commit: () => {}, abort: () => {} },
    })
    cleanups.push(() => bankB.close())
    cleanups.push(() => coordinator.close())
    await bankB.start()
    await coordinator.start()
    const participants = { 'bank-a': 1, 'bank-b': 2 }

    expect(await coordinator.commit({ participants, txId: 'done' })).toMatchObject({ decision: 'commit' })
    await coordinator.completion('done')
    // bank-a's lazy end record of `done` reaches the file after its ack.
    await expect
      .poll(async () => (await readFile(path, 'utf8')).includes('"type":"end","txId":"done"'))
      .toBe(true)
    cut = true
    expect(await coordinator.commit({ participants, txId: 'stuck' })).toMatchObject({ decision: 'commit' })
    await expect.poll(() => inDoubtIn(child)).toEqual(['stuck'])

    const bytes = await readFile(path)
    const lock = await readFile(`${path}.lock`)
    const lockStat = await stat(`${path}.lock`)

    const table = await twopc('inspect', path)
    expect(table.stderr).toBe('')
    expect(table.code).toBe(0)
    const lines = table.stdout.split('\n')
    expect(lines.slice(0, 3)).toEqual([
      `Log     ${path}`,
      'Owner   participant bank-a, life 1',
      expect.stringMatching(/^Frames {2}\d+ \(\d+ live records\)$/),
    ])
    expect(table.stdout).toContain(
      [
        'In doubt (prepared, outcome unknown): 1',
        '  txId   coordinator  participants    phases',
        '  stuck  coord        bank-a, bank-b  two',
      ].join('\n'),
    )
    expect(table.stdout).toContain(
      'Recent (the last of 1 finished transactions still in the file): 1\n  txId  decision\n  done  commit\n',
    )
    expect(table.stdout).not.toContain('Committing')

    const json = await twopc('inspect', path, '--json')
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({
      path,
      owner: { node: 'bank-a', role: 'participant', life: 1 },
      tailBytes: 0,
      committing: [],
      inDoubt: [{ txId: 'stuck', coordinator: 'coord', participants: ['bank-a', 'bank-b'], onePhase: false }],
      applying: [],
      heuristic: [],
      recent: [{ txId: 'done', decision: 'commit' }],
      finished: 1,
    })

    // Read-only: the file, the lock and its owner are as they were, and the service goes on.
    expect(await readFile(path)).toEqual(bytes)
    expect(await readFile(`${path}.lock`)).toEqual(lock)
    const lockAfter = await stat(`${path}.lock`)
    expect([lockAfter.ino, lockAfter.mtimeMs]).toEqual([lockStat.ino, lockStat.mtimeMs])
    expect(child.exitCode).toBe(null)
    cut = false
    await expect.poll(() => inDoubtIn(child), { timeout: 10_000 }).toEqual([])
    expect(await coordinator.commit({ participants, txId: 'after' })).toMatchObject({ decision: 'commit' })
  }, 60_000)
})
