import { type ChildProcess, fork } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/index.js'
import type { NodeStats } from '../../src/runtime/stats.js'

const ROUNDS = Number(process.env.TWOPC_KILL_ROUNDS ?? 20)
const SEED = Number(process.env.TWOPC_KILL_SEED ?? 20261126)
const NODES = ['coord', 'p1', 'p2', 'p3'] as const
type NodeName = (typeof NODES)[number]

/**
 * Runs each node as a child process with a real FileLog, routes their messages over IPC, and kills
 * them with SIGKILL at seeded random moments.
 */
class ProcessCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'twopc-kill9-'))
  readonly children = new Map<NodeName, ChildProcess>()
  /** Decisions the coordinator reported as final (commit: the commit record was durable). */
  readonly decided = new Map<string, string>()
  private incarnation = 0
  private readonly statusWaiters = new Map<NodeName, (stats: NodeStats) => void>()

  async start(name: NodeName): Promise<void> {
    this.incarnation += 1
    const role = name === 'coord' ? 'coordinator' : 'participant'
    const child = fork(
      join(import.meta.dirname, 'crash-node.ts'),
      [role, name, this.dir, String(this.incarnation)],
      {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    )
    this.children.set(name, child)
    const started = new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`${name} exited before starting (${code ?? signal})`)),
      )
      child.on('message', (value: { kind: string; [key: string]: unknown }) => {
        if (value.kind === 'started') resolve()
        else if (value.kind === 'message') this.route(value.message as { to: NodeName })
        else if (value.kind === 'decided') this.decided.set(value.txId as string, value.decision as string)
        else if (value.kind === 'status') this.statusWaiters.get(name)?.(value.stats as NodeStats)
      })
    })
    await started
    child.removeAllListeners('exit')
  }

  async kill(name: NodeName): Promise<void> {
    const child = this.children.get(name)
    this.children.delete(name)
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  async status(name: NodeName): Promise<NodeStats> {
    const child = this.children.get(name)
    if (child === undefined) throw new Error(`${name} is not running`)
    const reply = new Promise<NodeStats>((resolve) => this.statusWaiters.set(name, resolve))
    child.send({ kind: 'status' })
    return reply
  }

  stopWorkload(): void {
    this.children.get('coord')?.send({ kind: 'stop-workload' })
  }

  /** Every participant's applied outcomes, read from the durable files the resources keep. */
  applied(name: NodeName): Map<string, Set<string>> {
    const file = join(this.dir, `${name}.applied`)
    const result = new Map<string, Set<string>>()
    if (!existsSync(file)) return result
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue
      const { txId, decision } = JSON.parse(line) as { txId: string; decision: string }
      result.set(txId, (result.get(txId) ?? new Set()).add(decision))
    }
    return result
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((name) => this.kill(name)))
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }

  private route(message: { to: NodeName }): void {
    const child = this.children.get(message.to)
    if (child?.connected) child.send({ kind: 'message', message }, () => {}) // a dying peer loses it, like a network would
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Runs the transaction stream, kills and restarts nodes for `rounds` rounds, then lets everything
 * finish and returns every violation of S1/S6, validity and durability it finds.
 */
async function runKillRounds(cluster: ProcessCluster, rounds: number, seed: number) {
  const random = seededRandom(seed)
  for (const name of NODES) await cluster.start(name)
  const kills: string[] = []
  for (let round = 0; round < rounds; round++) {
    // Alternate: the coordinator, then a random participant, each killed at a random moment.
    const victim: NodeName = round % 2 === 0 ? 'coord' : (NODES[1 + Math.floor(random() * 3)] as NodeName)
    await sleep(50 + Math.floor(random() * 250))
    await cluster.kill(victim)
    kills.push(victim)
    await sleep(Math.floor(random() * 100))
    await cluster.start(victim)
  }
  cluster.stopWorkload()

  // Liveness: with everyone up and no more faults, everything in flight finishes.
  const deadline = Date.now() + 30_000
  let settled = false
  while (!settled && Date.now() < deadline) {
    const stats = await Promise.all(NODES.map((name) => cluster.status(name)))
    settled = stats.every((s) => s.inFlight === 0 && s.inDoubt === 0)
    if (!settled) await sleep(200)
  }

  const violations: string[] = []
  if (!settled) violations.push('L1: transactions still in flight 30 s after the last fault')
  const applied = NODES.slice(1).map((name) => cluster.applied(name))
  const txIds = new Set(applied.flatMap((map) => [...map.keys()]))
  let committed = 0
  for (const txId of txIds) {
    const outcomes = new Set(applied.flatMap((map) => [...(map.get(txId) ?? [])]))
    if (outcomes.size > 1) violations.push(`S1/S6: ${txId} was both committed and aborted`)
    if (outcomes.has('commit')) {
      committed += 1
      NODES.slice(1).forEach((name, i) => {
        if (!applied[i]?.get(txId)?.has('commit'))
          violations.push(`validity: ${txId} committed but not on ${name}`)
      })
    }
  }
  for (const [txId, decision] of cluster.decided) {
    NODES.slice(1).forEach((name, i) => {
      const seen = applied[i]?.get(txId) ?? new Set()
      if (decision === 'commit' && !seen.has('commit'))
        violations.push(`durability: committed ${txId} lost on ${name}`)
      if (decision === 'abort' && seen.has('commit'))
        violations.push(`S1: aborted ${txId} committed on ${name}`)
    })
  }
  const summary = `${rounds} rounds (seed ${seed}), kills ${kills.join(',')}; ${cluster.decided.size} decisions reported, ${txIds.size} transactions applied, ${committed} committed`
  return { violations, summary, committed }
}

describe('real crashes: SIGKILL of node processes with FileLogs', () => {
  const clusters: ProcessCluster[] = []
  afterAll(async () => {
    for (const cluster of clusters) {
      await cluster.stopAll()
      cluster.cleanup()
    }
  })

  it(`keeps one outcome per transaction on every node through ${ROUNDS} kill/restart rounds (seed ${SEED})`, async () => {
    const cluster = new ProcessCluster()
    clusters.push(cluster)
    const { violations, summary, committed } = await runKillRounds(cluster, ROUNDS, SEED)
    console.log(`kill -9: ${summary}`)
    expect(violations).toEqual([])
    expect(committed).toBeGreaterThan(0)
  }, 300_000)

  it('catches a log that acknowledges appends before they are written', async () => {
    process.env.TWOPC_CRASH_MUTANT = 'early-ack'
    try {
      const cluster = new ProcessCluster()
      clusters.push(cluster)
      const { violations, summary } = await runKillRounds(cluster, 8, SEED)
      console.log(
        `kill -9 with the early-ack mutant: ${summary}; ${violations.length} violations, first: ${violations[0]}`,
      )
      expect(violations.length).toBeGreaterThan(0)
    } finally {
      delete process.env.TWOPC_CRASH_MUTANT
    }
  }, 300_000)
})
