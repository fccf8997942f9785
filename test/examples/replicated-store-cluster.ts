/**
 * The replicated store in one process, for the seeded test: replicas and the leader over one
 * MemoryNetwork, each with a MemoryLog, each replica's data on a {@link MemoryDisk}. Any node can
 * be crashed (what was not yet durable is lost, like a power cut) and restarted on what was.
 */

import { Leader } from '../../examples/replicated-store/leader.js'
import { type Replica, startReplica } from '../../examples/replicated-store/replica.js'
import type { ReplicaClient, ReplicaDirectory } from '../../examples/replicated-store/replica-api.js'
import type { ReplicaStore } from '../../examples/replicated-store/resource.js'
import type { StateStorage, StoredState } from '../../examples/replicated-store/store.js'
import {
  Coordinator,
  MemoryLog,
  MemoryNetwork,
  type NodeId,
  type Resource,
  seededRandom,
} from '../../src/index.js'

/** Fast timings: a write to a dead replica aborts after 150 ms. */
export const TIMINGS = {
  prepareTimeoutMs: 150,
  retransmitIntervalMs: 10,
  retransmitIntervalMsMax: 80,
  cooperativeTerminationAfterMs: 600,
} as const

/**
 * A replica's disk. A save becomes durable one macrotask later (like a real write and fsync);
 * {@link crash} loses saves still in flight and cuts off the crashed incarnation, whose late saves
 * then fail instead of landing on the disk a restarted incarnation uses.
 */
export class MemoryDisk {
  private durable: StoredState | undefined
  private incarnation = 0

  /** @param keepsWrites false plants a broken disk that acknowledges saves and keeps nothing. */
  constructor(private readonly keepsWrites = true) {}

  /** The storage of the current incarnation of the replica. */
  open(): StateStorage {
    const incarnation = this.incarnation
    return {
      load: async () => (this.durable === undefined ? undefined : copy(this.durable)),
      save: (state) => {
        const written = copy(state)
        return new Promise((resolve, reject) =>
          setTimeout(() => {
            if (incarnation !== this.incarnation) return reject(new Error('the disk crashed during the save'))
            if (this.keepsWrites) this.durable = written
            resolve()
          }, 0),
        )
      },
    }
  }

  crash(): void {
    this.incarnation += 1
  }
}

const copy = (state: StoredState): StoredState => JSON.parse(JSON.stringify(state)) as StoredState

/** How to build the cluster. */
export interface ClusterOptions {
  readonly seed: number
  /** Every replica id that may ever run. */
  readonly pool: readonly NodeId[]
  /** Plants a broken resource in every replica (see `startReplica`'s `wrapResource`). */
  readonly wrapResource?: (store: ReplicaStore) => Resource
  /** Plants disks that keep nothing. */
  readonly brokenDisks?: boolean
}

interface Slot {
  readonly disk: MemoryDisk
  readonly log: MemoryLog
  replica: Replica | undefined
  /** A start in progress: starting twice would run two participants on one log. */
  starting: Promise<void> | undefined
}

/** Replicas and a leader in one process, crashable and restartable. */
export class StoreCluster {
  readonly net: MemoryNetwork
  private readonly slots = new Map<NodeId, Slot>()
  private readonly leaderLog = new MemoryLog()
  private current: Leader | undefined
  private coordinator: Coordinator | undefined
  private leaderWaiters: ((leader: Leader) => void)[] = []
  private seed: number

  /** What the leader sees: a crashed replica's calls reject, as an unreachable one's would. */
  readonly directory: ReplicaDirectory = {
    ids: () => [...this.slots.keys()],
    client: (id) => this.slots.get(id)?.replica?.store ?? unreachable(id),
  }

  constructor(private readonly options: ClusterOptions) {
    this.seed = options.seed
    this.net = new MemoryNetwork({ seed: options.seed, lossRate: 0.01, duplicateRate: 0.01, maxDelayMs: 2 })
    for (const id of options.pool)
      this.slots.set(id, {
        disk: new MemoryDisk(!options.brokenDisks),
        log: new MemoryLog(),
        replica: undefined,
        starting: undefined,
      })
  }

  /** The leader, once one is running (waits while it is crashed). */
  leader(): Promise<Leader> {
    if (this.current !== undefined) return Promise.resolve(this.current)
    return new Promise((resolve) => this.leaderWaiters.push(resolve))
  }

  /** The running replicas' stores, by id. */
  running(): Map<NodeId, ReplicaStore> {
    const result = new Map<NodeId, ReplicaStore>()
    for (const [id, slot] of this.slots) if (slot.replica !== undefined) result.set(id, slot.replica.store)
    return result
  }

  isRunning(id: NodeId): boolean {
    return this.slot(id).replica !== undefined
  }

  /** Starts replica `id` on its log and disk (a restart if it ran before); does nothing if it runs. */
  startReplica(id: NodeId): Promise<void> {
    const slot = this.slot(id)
    if (slot.replica !== undefined) return Promise.resolve()
    slot.starting ??= this.boot(id, slot).finally(() => {
      slot.starting = undefined
    })
    return slot.starting
  }

  private async boot(id: NodeId, slot: Slot): Promise<void> {
    this.seed += 1
    slot.replica = await startReplica({
      id,
      transport: this.net.connect(id),
      log: slot.log,
      storage: slot.disk.open(),
      random: seededRandom(this.seed),
      ...TIMINGS,
      ...(this.options.wrapResource && { wrapResource: this.options.wrapResource }),
    })
  }

  /** Power cut: unsynced log records and store saves are lost; the process is gone. */
  async crashReplica(id: NodeId): Promise<void> {
    const slot = this.slot(id)
    const replica = slot.replica
    if (replica === undefined) return
    slot.replica = undefined
    slot.log.crash()
    slot.disk.crash()
    await replica.participant.close()
  }

  async startLeader(): Promise<Leader> {
    this.seed += 1
    const coordinator = new Coordinator({
      id: 'leader',
      transport: this.net.connect('leader'),
      log: this.leaderLog,
      random: seededRandom(this.seed),
      ...TIMINGS,
    })
    const leader = new Leader({
      coordinator,
      replicas: this.directory,
      quiesceTimeoutMs: 1500,
      applyTimeoutMs: 1000,
    })
    await leader.start()
    this.current = leader
    this.coordinator = coordinator
    for (const waiter of this.leaderWaiters.splice(0)) waiter(leader)
    return leader
  }

  /** Power cut of the leader: its pending writes reject (their callers never learn the outcome). */
  async crashLeader(): Promise<void> {
    const leader = this.current
    if (leader === undefined) return
    this.current = undefined
    this.coordinator = undefined
    this.leaderLog.crash()
    await leader.close()
  }

  /**
   * True when nothing is left to do anywhere: no transaction in flight or in doubt on any running
   * node, no staged write in any running store.
   */
  async idle(): Promise<boolean> {
    if (this.coordinator === undefined || this.coordinator.stats().inFlight > 0) return false
    for (const slot of this.slots.values()) {
      if (slot.replica === undefined) continue
      const stats = slot.replica.participant.stats()
      if (stats.inFlight > 0 || stats.inDoubt > 0 || (await slot.replica.store.status()).staged > 0)
        return false
    }
    return true
  }

  async close(): Promise<void> {
    await this.crashLeader()
    await Promise.all([...this.slots.keys()].map((id) => this.crashReplica(id)))
  }

  private slot(id: NodeId): Slot {
    const slot = this.slots.get(id)
    if (slot === undefined) throw new Error(`no replica ${id} in the pool`)
    return slot
  }
}

function unreachable(id: NodeId): ReplicaClient {
  const fail = () => Promise.reject(new Error(`${id} is down`))
  return { get: fail, status: fail, snapshot: fail, install: fail }
}
