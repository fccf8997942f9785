import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { seededRandom } from '../../src/index.js'
import { type ChildReport, ProcessCluster } from '../support/process-cluster.js'

const ROUNDS = Number(process.env.TWOPC_KILL_ROUNDS ?? 20)
const SEED = Number(process.env.TWOPC_KILL_SEED ?? 20261126)
const NODES = ['coord', 'p1', 'p2', 'p3'] as const
type NodeName = (typeof NODES)[number]

/**
 * Runs each node as a crash-node.ts child process with a real FileLog, routes their messages over
 * IPC, and kills them with SIGKILL at seeded random moments.
 */
class CrashCluster extends ProcessCluster<NodeName> {
  /** Decisions the coordinator reported as final (commit: the commit record was durable). */
  readonly decided = new Map<string, string>()

  constructor() {
    super({
      script: join(import.meta.dirname, 'crash-node.ts'),
      dirPrefix: 'twopc-kill9-',
      args: (name, dir, incarnation) => [
        name === 'coord' ? 'coordinator' : 'participant',
        name,
        dir,
        String(incarnation),
      ],
    })
  }

  stopWorkload(): void {
    this.send('coord', { kind: 'stop-workload' })
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

  protected override onReport(_name: NodeName, report: ChildReport): void {
    if (report.kind === 'decided') this.decided.set(report.txId as string, report.decision as string)
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Runs the transaction stream, kills and restarts nodes for `rounds` rounds, then lets everything
 * finish and returns every violation of S1/S6, validity and durability it finds.
 */
async function runKillRounds(cluster: CrashCluster, rounds: number, seed: number) {
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
  const clusters: CrashCluster[] = []
  afterAll(async () => {
    for (const cluster of clusters) await cluster.stopAll()
  })

  it(`keeps one outcome per transaction on every node through ${ROUNDS} kill/restart rounds (seed ${SEED})`, async () => {
    const cluster = new CrashCluster()
    clusters.push(cluster)
    const { violations, summary, committed } = await runKillRounds(cluster, ROUNDS, SEED)
    console.log(`kill -9: ${summary}`)
    expect(violations).toEqual([])
    expect(committed).toBeGreaterThan(0)
  }, 300_000)

  it('catches a log that acknowledges appends before they are written', async () => {
    process.env.TWOPC_CRASH_MUTANT = 'early-ack'
    try {
      const cluster = new CrashCluster()
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
