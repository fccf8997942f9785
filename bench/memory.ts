import type { Json, Vote } from '../src/index.js'
import { startNaive2pc } from './baselines/naive-2pc.js'
import { startLocalCluster } from './library/local-cluster.js'
import { closedLoop, settledHeapBytes, type Transact, waitUntil } from './measure.js'
import type { MemoryResult } from './results.js'
import type { System } from './system.js'
import { voteIn } from './workloads.js'

/** How much the memory scenarios run. */
export interface MemoryPlan {
  /** Transactions held in flight to weigh one. */
  readonly inFlight: number
  /** Transactions run between the two heap measurements of the drain check. */
  readonly transactions: number
  /** Transactions run before the first one: more than `rememberedTransactions`, so the bounded memories are full. */
  readonly warmupTransactions: number
  /** Finished transactions each node remembers during the drain check (the bound on its memory). */
  readonly rememberedTransactions: number
  /**
   * The steady-state check: tx/s once the nodes' memories of finished transactions are full and
   * evicting, with a small and a large `rememberedTransactions`. Both clusters first run 1.2× their
   * bound; then `rounds` times, `transactions` are timed on each, alternating. Equal rates mean
   * remembering costs the same per transaction however much is remembered.
   */
  readonly steadyState: {
    readonly small: number
    readonly large: number
    readonly transactions: number
    readonly rounds: number
  }
}

const N = 2
const CONCURRENCY = 100

/** A vote that can be held: while `holding`, each prepare waits until {@link release}. */
class HeldVotes {
  holding = false
  private readonly held: (() => void)[] = []

  readonly vote = (payload: Json): Vote | Promise<Vote> => {
    if (!this.holding) return voteIn(payload)
    return new Promise((resolve) => this.held.push(() => resolve(voteIn(payload))))
  }

  get count(): number {
    return this.held.length
  }

  release(): void {
    this.holding = false
    for (const resume of this.held.splice(0)) resume()
  }
}

/** Runs `transactions` transactions, `CONCURRENCY` at a time, numbered from `firstIndex`. */
function drive(transact: Transact, firstIndex: number, transactions: number) {
  return closedLoop(transact, { concurrency: CONCURRENCY, firstIndex, durationMs: Infinity, transactions })
}

/**
 * Heap per transaction in flight: start `inFlight` transactions whose prepares the participants'
 * resource holds (so every node keeps its state for them), and divide the heap they add by their
 * number. Heaps are measured after full garbage collections.
 */
async function heapPerInFlightTx(system: System, votes: HeldVotes, inFlight: number): Promise<number> {
  await drive(system.transact, 0, 2_000) // warm up
  const before = settledHeapBytes()
  votes.holding = true
  const pending = Array.from({ length: inFlight }, (_, i) => system.transact(2_000 + i))
  await waitUntil(() => votes.count === inFlight * N)
  const during = settledHeapBytes()
  votes.release()
  await Promise.all(pending)
  await system.close()
  return (during - before) / inFlight
}

/** An in-memory cluster remembering `remembered` finished transactions, run until that memory is full. */
async function fullMemoryCluster(remembered: number): Promise<{ system: System; next: number }> {
  const system = await startLocalCluster({
    n: N,
    mix: 'all-commit',
    log: 'memory',
    directory: '',
    limits: { rememberedTransactions: remembered },
  })
  const warmup = Math.ceil(remembered * 1.2)
  await drive(system.transact, 0, warmup)
  return { system, next: warmup }
}

/** tx/s of each of two full-memory clusters, timed in alternating rounds (the same process state for both). */
async function steadyState(plan: MemoryPlan['steadyState']): Promise<MemoryResult['steadyState']> {
  const clusters = [await fullMemoryCluster(plan.small), await fullMemoryCluster(plan.large)]
  const rates: [number[], number[]] = [[], []]
  for (let round = 0; round < plan.rounds; round++) {
    for (const [which, cluster] of clusters.entries()) {
      const timed = await drive(cluster.system.transact, cluster.next, plan.transactions)
      cluster.next += plan.transactions
      rates[which]?.push((timed.transactions * 1000) / timed.elapsedMs)
    }
  }
  for (const cluster of clusters) await cluster.system.close()
  return {
    small: { remembered: plan.small, tps: rates[0] },
    large: { remembered: plan.large, tps: rates[1] },
  }
}

/**
 * The memory scenarios, in process over MemoryNetwork and MemoryLog with N=2: heap per
 * transaction in flight (twopc and the naive 2PC), whether the heap returns to where it started
 * after `plan.transactions` transactions once they have drained, and the steady-state rates.
 */
export async function measureMemory(plan: MemoryPlan): Promise<MemoryResult> {
  const libraryVotes = new HeldVotes()
  const library = await heapPerInFlightTx(
    await startLocalCluster({
      n: N,
      mix: 'all-commit',
      log: 'memory',
      directory: '',
      resource: { prepare: (tx) => libraryVotes.vote(tx.payload), commit: () => {}, abort: () => {} },
      limits: { maxInFlightTransactions: plan.inFlight + CONCURRENCY },
    }),
    libraryVotes,
    plan.inFlight,
  )
  const naiveVotes = new HeldVotes()
  const naive = await heapPerInFlightTx(
    await startNaive2pc({ n: N, mix: 'all-commit', directory: undefined, vote: naiveVotes.vote }),
    naiveVotes,
    plan.inFlight,
  )

  const cluster = await startLocalCluster({
    n: N,
    mix: 'all-commit',
    log: 'memory',
    directory: '',
    limits: { rememberedTransactions: plan.rememberedTransactions },
  })
  const freshBytes = settledHeapBytes()
  await drive(cluster.transact, 0, plan.warmupTransactions)
  const startBytes = settledHeapBytes()
  await drive(cluster.transact, plan.warmupTransactions, plan.transactions)
  await new Promise((resolve) => setTimeout(resolve, 50)) // lazy records and forgets
  const endBytes = settledHeapBytes()
  await cluster.close()
  return {
    steadyState: await steadyState(plan.steadyState),
    bytesPerInFlightTx: { library, naive, inFlight: plan.inFlight },
    drain: {
      transactions: plan.transactions,
      warmupTransactions: plan.warmupTransactions,
      freshBytes,
      startBytes,
      endBytes,
    },
  }
}
