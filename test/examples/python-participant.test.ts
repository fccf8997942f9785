/**
 * A participant in another language: examples/python-participant.py, written from the README's
 * "Wire format" section alone, takes part in transactions with a twopc Coordinator and a Node
 * participant, over TCP and over HTTP, and is killed with SIGKILL while transactions are in flight.
 * At the end its state must agree with every outcome the coordinator reported: its balance is 100
 * plus the amounts of the committed transactions, and nothing is left prepared.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { type CommitOutcome, Coordinator, MemoryLog, Participant, type Vote } from '../../src/index.js'
import { HttpTransport, TcpTransport } from '../../src/node.js'

const SCRIPT = resolve(import.meta.dirname, '../../examples/python-participant.py')
const SECRET = 'python-participant-test-secret'

interface PythonState {
  readonly inc: number
  readonly balance: number
  readonly transactions: Record<string, { readonly state: 'prepared' | 'committed' | 'aborted' }>
}

/** The Python participant as a child process; `start()` resolves with its life and port once it listens. */
class PythonParticipant {
  private child: ChildProcess | undefined
  stderr = ''
  /** Every vote it printed, over all its lives. */
  readonly votes: { readonly txId: string; readonly vote: string; readonly refused?: number }[] = []
  firstYes: Promise<void> = Promise.resolve()

  constructor(private readonly args: readonly string[]) {}

  start(env: NodeJS.ProcessEnv = { TWOPC_SECRET: SECRET }): Promise<{ inc: number; port: number }> {
    const child = spawn('python3', [SCRIPT, ...this.args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    child.stderr?.on('data', (chunk) => (this.stderr += chunk))
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    let yes: () => void = () => {}
    this.firstYes = new Promise((resolve) => (yes = resolve))
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`python exited with ${code}: ${this.stderr}`)))
      child.once('error', reject)
      lines.on('line', (line) => {
        const event = JSON.parse(line)
        if (event.event === 'listening') resolve(event)
        if (event.event === 'voted') this.votes.push(event)
        if (event.event === 'voted' && event.vote === 'yes') yes()
      })
    })
  }

  exited(): Promise<number | null> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null)
      return Promise.resolve(child?.exitCode ?? null)
    return new Promise((resolve) => child.once('exit', resolve))
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL')
    await this.exited()
  }
}

const cleanups: (() => Promise<unknown> | undefined)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

it('refuses to start without a secret (exit 2, saying why)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twopc-python-'))
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
  const python = new PythonParticipant(
    ['--transport', 'tcp', '--id', 'py', '--listen', '127.0.0.1:0'].concat([
      '--coordinator',
      'coord=127.0.0.1:1',
      '--state',
      join(dir, 'state.json'),
    ]),
  )
  await expect(python.start({})).rejects.toThrow(/exited with 2: .*TWOPC_SECRET/s)
})

describe.each(['tcp', 'http'] as const)('a Python participant over %s', (kind) => {
  it('commits, aborts and survives kill -9 in flight, agreeing with the coordinator at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twopc-python-'))
    const statePath = join(dir, 'state.json')
    const listen = async (id: string) => {
      if (kind === 'tcp') {
        const transport = await TcpTransport.listen({ id, listen: '127.0.0.1:0', secret: SECRET })
        return { transport, address: transport.address }
      }
      const transport = new HttpTransport({ id, secret: SECRET })
      return { transport, address: await transport.listen('127.0.0.1:0') }
    }
    const coord = await listen('coord')
    const bank = await listen('bank-b')
    const pythonAddress = (port: number) =>
      kind === 'tcp' ? `127.0.0.1:${port}` : `http://127.0.0.1:${port}/twopc`
    coord.transport.setPeer('bank-b', bank.address)
    bank.transport.setPeer('coord', coord.address)
    const python = new PythonParticipant([
      ...['--transport', kind, '--id', 'py', '--listen', '127.0.0.1:0'],
      ...['--coordinator', `coord=${coord.address}`, '--state', statePath],
    ])
    const coordinator = new Coordinator({ id: 'coord', transport: coord.transport, log: new MemoryLog() })
    const resource = {
      prepare: async (): Promise<Vote> => 'yes',
      commit: async () => {},
      abort: async () => {},
    }
    const participant = new Participant({
      id: 'bank-b',
      transport: bank.transport,
      log: new MemoryLog(),
      resource,
    })
    const rejected: unknown[] = []
    coord.transport.on('rejected', (event) => rejected.push(event))
    cleanups.push(
      () => python.kill(),
      () => coordinator.close(),
      () => participant.close(),
      async () => rmSync(dir, { recursive: true, force: true }),
    )
    await Promise.all([coordinator.start(), participant.start()])
    let life = await python.start()
    expect(life.inc).toBe(1)
    coord.transport.setPeer('py', pythonAddress(life.port))

    const amounts = new Map<string, number>()
    const transfer = async (amount: number, onePhase = false): Promise<CommitOutcome> => {
      const participants = onePhase ? { py: { amount } } : { py: { amount }, 'bank-b': { amount: -amount } }
      const outcome = await coordinator.commit({ participants })
      amounts.set(outcome.txId, amount)
      return outcome
    }
    for (let i = 0; i < 3; i++) expect((await transfer(-5)).decision).toBe('commit')
    // First contact: the coordinator did not know its life, so it refused the first request (rule 2).
    expect(python.votes[0]).toMatchObject({ vote: 'no', refused: 0 })
    expect(await transfer(-1000)).toMatchObject({ decision: 'abort', reason: 'vote-no' })
    expect((await transfer(7, true)).decision).toBe('commit')

    for (const delayMs of [0, 30]) {
      // Warm up: after a restart, a transaction bound to the previous life aborts (refused).
      await transfer(1)
      const inFlight = [
        ...Array.from({ length: 4 }, () => transfer(-1)),
        transfer(2, true),
        transfer(-3, true),
      ]
      await python.firstYes
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      await python.kill()
      const next = await python.start()
      expect(next.inc).toBe(life.inc + 1)
      life = next
      coord.transport.setPeer('py', pythonAddress(life.port))
      await Promise.all(inFlight)
    }
    await transfer(1) // may abort as refused: bound to the life before the last restart
    expect((await transfer(-5)).decision).toBe('commit')

    // Every transaction settles (one-phase ones that resolved `unknown` too), and the Python state
    // agrees with the coordinator's decision for each.
    const finalDecision = async (txId: string) => {
      await coordinator.completion(txId)
      const status = coordinator.status(txId)
      return status.state === 'finished' ? status.decision : status.state
    }
    const decisions = new Map<string, string>()
    for (const txId of amounts.keys()) decisions.set(txId, await finalDecision(txId))
    const read = () => JSON.parse(readFileSync(statePath, 'utf8')) as PythonState
    await expect
      .poll(() => Object.values(read().transactions).filter((tx) => tx.state === 'prepared'), {
        timeout: 15_000,
      })
      .toEqual([])
    const state = read()
    const committed = [...decisions].filter(([, decision]) => decision === 'commit')
    expect(committed.length).toBeGreaterThanOrEqual(5)
    expect(state.balance).toBe(
      100 + committed.reduce((sum, [txId]) => sum + (amounts.get(txId) as number), 0),
    )
    for (const [txId, decision] of decisions) {
      // An aborted transaction may be unknown there: refused, or never delivered.
      const allowed = decision === 'commit' ? ['committed'] : [undefined, 'aborted']
      expect(allowed, `${txId}: ${decision} at the coordinator`).toContain(state.transactions[txId]?.state)
    }
    expect(state.inc).toBe(3)
    expect(rejected).toEqual([])
  }, 90_000)
})
