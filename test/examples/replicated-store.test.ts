import { describe, expect, it } from 'vitest'
import { Leader } from '../../examples/replicated-store/leader.js'
import type { ReplicaDirectory } from '../../examples/replicated-store/replica-api.js'
import type { ReplicaStore } from '../../examples/replicated-store/resource.js'
import { Coordinator, MemoryLog, type Resource } from '../../src/index.js'
import { StoreCluster, TIMINGS } from './replicated-store-cluster.js'
import { runScenario } from './replicated-store-scenario.js'

const SEED = Number(process.env.TWOPC_REPLICATED_STORE_SEED ?? 20260601)
const replay = `replay: TWOPC_REPLICATED_STORE_SEED=${SEED} npx vitest run test/examples/replicated-store.test.ts`

/** Teeth: a replica that applies a write when it votes, not when the decision arrives. */
const applyAtPrepare = (store: ReplicaStore): Resource => ({
  prepare: async (tx) => {
    const vote = await store.prepare(tx)
    if (vote === 'yes') await store.commit(tx)
    return vote
  },
  commit: async () => {},
  abort: async () => {},
})

describe('replicated store: N replicas kept identical by two-phase commit', () => {
  it(`keeps every replica of the set identical to the committed writes through crashes and membership changes (seed ${SEED})`, async () => {
    const result = await runScenario({ seed: SEED })
    console.log(
      `replicated store, seed ${SEED}: ${result.summary}\n  ${result.events.join('\n  ')}\n  ${replay}`,
    )
    expect(result.violations, replay).toEqual([])
  }, 30_000)

  it('reports a divergence when replicas apply writes at prepare instead of commit', async () => {
    const result = await runScenario({ seed: SEED, wrapResource: applyAtPrepare })
    console.log(
      `apply-at-prepare mutant: ${result.violations.length} violations, first: ${result.violations[0]}`,
    )
    expect(result.violations.some((v) => v.startsWith('divergence'))).toBe(true)
  }, 30_000)

  it('reports a divergence when a replica loses its committed data in a crash', async () => {
    const result = await runScenario({
      seed: SEED,
      brokenDisks: true,
      actions: ['crash-replica', 'crash-replica'],
      victims: ['replica-1'],
    })
    console.log(
      `disk-that-keeps-nothing mutant: ${result.violations.length} violations, first: ${result.violations[0]}`,
    )
    expect(result.violations.some((v) => v.startsWith('divergence'))).toBe(true)
    expect(result.violations.some((v) => v.includes('is missing'))).toBe(true)
  }, 30_000)

  it('refuses a write from a leader whose view of the set is stale, so a new member cannot miss it', async () => {
    const cluster = new StoreCluster({ seed: SEED, pool: ['replica-1', 'replica-2', 'replica-3'] })
    try {
      await Promise.all(['replica-1', 'replica-2', 'replica-3'].map((id) => cluster.startReplica(id)))
      const leader = await cluster.startLeader()
      await leader.bootstrap(['replica-1', 'replica-2'])
      expect((await leader.addReplica('replica-3')).membership.epoch).toBe(2)

      // A second leader that still sees the set of epoch 1 (replica-3 not in it), e.g. one that
      // restarted while the change was committed but not yet applied anywhere.
      const store = cluster.running().get('replica-1') as ReplicaStore
      const stale: ReplicaDirectory = {
        ids: () => ['replica-1'],
        client: () => ({
          get: (key) => store.get(key),
          status: async () => ({
            ...(await store.status()),
            membership: { epoch: 1, members: ['replica-1', 'replica-2'] },
          }),
          snapshot: () => store.snapshot(),
          install: (snapshot) => store.install(snapshot),
        }),
      }
      const coordinator = new Coordinator({
        id: 'old-leader',
        transport: cluster.net.connect('old-leader'),
        log: new MemoryLog(),
        ...TIMINGS,
      })
      const old = new Leader({ coordinator, replicas: stale })
      await old.start()
      expect(old.membership).toEqual({ epoch: 1, members: ['replica-1', 'replica-2'] })
      expect(await old.put('k', 'written behind replica-3')).toMatchObject({
        decision: 'abort',
        reason: 'vote-no',
      })
      await old.close()

      const data = [...cluster.running().values()].map((replica) => JSON.stringify(replica.state().data))
      expect(new Set(data).size).toBe(1)
      expect(await store.get('k')).toEqual({ value: undefined, version: 0 })
    } finally {
      await cluster.close()
    }
  })
})
