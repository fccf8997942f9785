/**
 * One seeded run of the replicated store under faults: several clients put and delete at random
 * (mostly conditional writes on a few hot keys, so replicas vote no on conflicts) while a chaos
 * script crashes and restarts replicas and the leader and adds and removes servers. Then
 * everything heals, and the checker compares the set's replicas with each other and with the
 * model of what the clients were told.
 *
 * The seed fixes the workload and the fault script; the interleaving also depends on real timers,
 * so a replay repeats the same run, not necessarily the same schedule to the millisecond.
 */

import type { ReplicaStore } from '../../examples/replicated-store/resource.js'
import type { StoredState } from '../../examples/replicated-store/store.js'
import { type NodeId, seededRandom } from '../../src/index.js'
import type { Resource } from '../../src/runtime/interfaces.js'
import { checkReplicas, type WriteRecord } from './replicated-store-checker.js'
import { StoreCluster } from './replicated-store-cluster.js'

/** A fault or membership change the chaos script makes. */
export type ChaosAction = 'crash-replica' | 'crash-leader' | 'add' | 'remove'

/** The default script, shuffled by the seed. */
export const DEFAULT_ACTIONS: readonly ChaosAction[] = [
  ...Array<ChaosAction>(5).fill('crash-replica'),
  ...Array<ChaosAction>(3).fill('crash-leader'),
  ...Array<ChaosAction>(3).fill('add'),
  ...Array<ChaosAction>(3).fill('remove'),
]

/** How to run the scenario. */
export interface ScenarioOptions {
  readonly seed: number
  /** Concurrent clients. @default 4 */
  readonly clients?: number
  /** Distinct keys (few keys: many conflicts). @default 6 */
  readonly keys?: number
  /** The chaos script, shuffled by the seed. @default DEFAULT_ACTIONS */
  readonly actions?: readonly ChaosAction[]
  /** Replicas `crash-replica` may pick. @default any running one */
  readonly victims?: readonly NodeId[]
  /** Teeth: a broken resource in every replica. */
  readonly wrapResource?: (store: ReplicaStore) => Resource
  /** Teeth: disks that keep nothing. */
  readonly brokenDisks?: boolean
}

/** What a run found. */
export interface ScenarioResult {
  readonly violations: string[]
  /** One line: how many writes, decided how, and what the chaos did. */
  readonly summary: string
  /** The chaos script as it happened, for a failure report. */
  readonly events: readonly string[]
}

const POOL = ['replica-1', 'replica-2', 'replica-3', 'replica-4', 'replica-5'] as const
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const SETTLE_TIMEOUT_MS = 8000

/** Runs the scenario and returns every violation the checker found (empty: all good). */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const random = seededRandom(options.seed)
  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)]
  const cluster = new StoreCluster({
    seed: options.seed,
    pool: POOL,
    ...(options.wrapResource && { wrapResource: options.wrapResource }),
    ...(options.brokenDisks && { brokenDisks: true }),
  })
  const started = new Set<NodeId>()
  const start = (id: NodeId) => {
    started.add(id)
    return cluster.startReplica(id)
  }
  const events: string[] = []
  const violations: string[] = []
  const writes: WriteRecord[] = []
  const background: Promise<void>[] = []
  let stopped = false

  const client = async (name: string) => {
    const own = seededRandom(options.seed * 31 + name.length + Number(name.slice(1)))
    for (let n = 0; !stopped; n++) {
      const leader = await cluster.leader()
      const key = `k${Math.floor(own() * (options.keys ?? 6))}`
      const type = own() < 0.75 ? 'put' : 'delete'
      let expectedVersion: number | undefined
      if (own() < 0.7) {
        // Read the version from any running replica: a stale one makes the write conflict, as it should.
        const readers = [...cluster.running().values()]
        const reader = readers[Math.floor(own() * readers.length)]
        expectedVersion = reader === undefined ? 0 : (await reader.get(key)).version
      }
      const txId = `${name}-${n}`
      const write: WriteRecord = {
        txId,
        key,
        type,
        ...(type === 'put' && { value: txId }),
        ...(expectedVersion !== undefined && { expectedVersion }),
        outcome: 'unknown',
      }
      writes.push(write)
      const writeOptions = { txId, ...(expectedVersion !== undefined && { expectedVersion }) }
      try {
        const outcome =
          type === 'put' ? await leader.put(key, txId, writeOptions) : await leader.delete(key, writeOptions)
        write.outcome = outcome.decision
      } catch {
        // The leader crashed first: the client never learns the outcome, which may be either.
      }
      await sleep(own() * 5)
    }
  }

  const act = async (action: ChaosAction) => {
    const leader = await cluster.leader()
    const members = leader.membership.members
    switch (action) {
      case 'crash-replica': {
        const id = pick((options.victims ?? POOL).filter((r) => cluster.isRunning(r)))
        if (id === undefined) return
        await cluster.crashReplica(id)
        const downMs = 100 + Math.floor(random() * 400)
        events.push(`crash ${id} for ${downMs} ms`)
        background.push(sleep(downMs).then(() => start(id)))
        return
      }
      case 'crash-leader': {
        await cluster.crashLeader()
        const downMs = Math.floor(random() * 80)
        events.push(`crash the leader for ${downMs} ms`)
        await sleep(downMs)
        await cluster.startLeader()
        return
      }
      case 'add': {
        const id = pick(POOL.filter((r) => !members.includes(r)))
        if (id === undefined) return
        const change = start(id).then(() => leader.addReplica(id))
        background.push(
          change.then(
            (c) => void events.push(`add ${id} → ${c.outcome.decision}, epoch ${c.membership.epoch}`),
            (error: Error) => void events.push(`add ${id} not done: ${error.message}`),
          ),
        )
        return
      }
      case 'remove': {
        const id = pick(members)
        if (id === undefined || members.length <= 2) return
        background.push(
          leader.removeReplica(id).then(
            (c) => void events.push(`remove ${id} → ${c.outcome.decision}, epoch ${c.membership.epoch}`),
            (error: Error) => void events.push(`remove ${id} not done: ${error.message}`),
          ),
        )
        return
      }
    }
  }

  try {
    const initial = POOL.slice(0, 3)
    await Promise.all(initial.map(start))
    const formed = await (await cluster.startLeader()).bootstrap(initial)
    if (formed.outcome.decision !== 'commit')
      return { violations: ['bootstrap aborted'], summary: '', events }

    const clients = Array.from({ length: options.clients ?? 4 }, (_, i) => client(`c${i + 1}`))
    const script = [...(options.actions ?? DEFAULT_ACTIONS)]
    for (let i = script.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[script[i], script[j]] = [script[j] as ChaosAction, script[i] as ChaosAction]
    }
    for (const action of script) {
      await sleep(80 + Math.floor(random() * 150))
      await act(action)
    }
    await sleep(200)
    stopped = true
    await Promise.all([...clients, ...background])

    // Heal: every replica that ever ran runs again, and the leader is up.
    await Promise.all([...started].map((id) => cluster.startReplica(id)))
    const leader = await cluster.leader()
    if (!(await settle(cluster))) violations.push(`L1: still busy ${SETTLE_TIMEOUT_MS} ms after healing`)

    // Liveness: a write commits again (a first try may find the leader's view stale and refresh it).
    for (let attempt = 0; attempt < 5; attempt++) {
      const txId = `final-${attempt}`
      const write: WriteRecord = { txId, key: 'final', type: 'put', value: txId, outcome: 'unknown' }
      writes.push(write)
      write.outcome = (await leader.put('final', txId, { txId })).decision
      if (write.outcome === 'commit') break
      await sleep(50)
    }
    if (!writes.some((w) => w.key === 'final' && w.outcome === 'commit'))
      violations.push('L1: no write commits after healing')
    if (!(await settle(cluster))) violations.push('L1: the final write did not finish')

    const states = new Map<NodeId, StoredState>()
    for (const id of (await leader.refresh()).members) {
      const store = cluster.running().get(id)
      if (store === undefined) violations.push(`${id} is in the set but not running after healing`)
      else states.set(id, store.state())
    }
    violations.push(...checkReplicas(writes, states))
    const count = (outcome: WriteRecord['outcome']) => writes.filter((w) => w.outcome === outcome).length
    const summary =
      `${writes.length} writes: ${count('commit')} committed, ${count('abort')} aborted, ${count('unknown')} outcome unknown; ` +
      `${events.length} faults and changes; final set epoch ${leader.membership.epoch} = ${leader.membership.members.join(', ')}`
    return { violations, summary, events }
  } finally {
    stopped = true
    await cluster.close()
  }
}

async function settle(cluster: StoreCluster): Promise<boolean> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (await cluster.idle()) return true
    await sleep(20)
  }
  return false
}
