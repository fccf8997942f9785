import { expect } from 'vitest'
import {
  Coordinator,
  type CoordinatorOptions,
  type Decision,
  MemoryLog,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MessageType,
  type NodeStats,
  Participant,
  type ParticipantOptions,
  type Resource,
  seededRandom,
  type TransactionInfo,
  type Vote,
} from '../../src/index.js'

/** A resource that records every call and can be told how to vote or fail. */
export class RecordingResource implements Resource {
  readonly prepared: string[] = []
  readonly applied = new Map<string, Decision>()
  readonly calls: { op: 'prepare' | 'commit' | 'abort'; txId: string }[] = []
  vote: Vote | ((tx: TransactionInfo) => Vote | Promise<Vote>) = 'yes'
  /** Number of upcoming commit/abort calls that throw before one succeeds. */
  failPhaseTwo = 0

  async prepare(tx: TransactionInfo): Promise<Vote> {
    this.calls.push({ op: 'prepare', txId: tx.txId })
    this.prepared.push(tx.txId)
    return typeof this.vote === 'function' ? this.vote(tx) : this.vote
  }

  async commit(tx: TransactionInfo): Promise<void> {
    this.apply('commit', tx)
  }

  async abort(tx: TransactionInfo): Promise<void> {
    this.apply('abort', tx)
  }

  private apply(decision: Decision, tx: TransactionInfo): void {
    this.calls.push({ op: decision, txId: tx.txId })
    if (this.failPhaseTwo > 0) {
      this.failPhaseTwo -= 1
      throw new Error(`simulated ${decision} failure`)
    }
    const previous = this.applied.get(tx.txId)
    // S6: commit and abort are never both applied for one transaction.
    if (previous !== undefined && previous !== decision) {
      throw new Error(`S6 violated: ${tx.txId} got ${previous} and then ${decision}`)
    }
    this.applied.set(tx.txId, decision)
  }
}

/** Counters of one node since the cluster started. */
export interface Cost {
  readonly messagesSent: Record<MessageType, number>
  /** Messages sent, all types. */
  readonly messages: number
  readonly recordsAppended: number
  readonly forcedAppends: number
}

/** Fast timings so that retransmission-driven tests finish quickly. */
export const FAST = { retransmitIntervalMs: 5, retransmitIntervalMsMax: 40, prepareTimeoutMs: 2000 } as const

interface NodeSlot<T> {
  node: T
  readonly log: MemoryLog
}

/** A coordinator and participants over one MemoryNetwork, each with its own MemoryLog, restartable. */
export class Cluster {
  readonly net: MemoryNetwork
  readonly resources = new Map<string, RecordingResource>()
  private readonly coordinatorSlot: NodeSlot<Coordinator>
  private readonly participantSlots = new Map<string, NodeSlot<Participant>>()
  private seed: number
  private readonly baselines = new Map<string, NodeStats>()

  constructor(
    participantIds: readonly string[],
    private readonly options: {
      network?: MemoryNetworkOptions
      coordinator?: Partial<CoordinatorOptions>
      participant?: Partial<ParticipantOptions>
      seed?: number
    } = {},
  ) {
    this.seed = options.seed ?? 1
    this.net = new MemoryNetwork({ seed: this.seed, ...options.network })
    const log = new MemoryLog()
    this.coordinatorSlot = { node: this.makeCoordinator(log), log }
    for (const id of participantIds) {
      const resource = new RecordingResource()
      this.resources.set(id, resource)
      const log = new MemoryLog()
      this.participantSlots.set(id, { node: this.makeParticipant(id, log), log })
    }
  }

  get coordinator(): Coordinator {
    return this.coordinatorSlot.node
  }

  get coordinatorLog(): MemoryLog {
    return this.coordinatorSlot.log
  }

  participant(id: string): Participant {
    return this.slot(id).node
  }

  participantLog(id: string): MemoryLog {
    return this.slot(id).log
  }

  resource(id: string): RecordingResource {
    const resource = this.resources.get(id)
    if (resource === undefined) throw new Error(`no participant ${id}`)
    return resource
  }

  get participantIds(): string[] {
    return [...this.participantSlots.keys()]
  }

  async start(): Promise<void> {
    await Promise.all([
      this.coordinator.start(),
      ...[...this.participantSlots.values()].map((s) => s.node.start()),
    ])
    this.markCosts()
  }

  /** Starts counting costs afresh: {@link cost} counts from here on. */
  markCosts(): void {
    for (const id of ['coord', ...this.participantIds]) this.baselines.set(id, this.node(id).stats())
  }

  /**
   * A node's counters since `start()` returned (or since the last {@link markCosts}), so that the
   * one forced `incarnation` record every node (coordinator included) writes at each start is not
   * counted as a cost of the transactions that follow.
   */
  cost(id: string): Cost {
    const now = this.node(id).stats()
    const base = this.baselines.get(id)
    if (base === undefined) throw new Error('call start() first')
    const messagesSent = { ...now.messagesSent }
    for (const type of Object.keys(messagesSent) as MessageType[])
      messagesSent[type] -= base.messagesSent[type]
    return {
      messagesSent,
      messages: Object.values(messagesSent).reduce((a, b) => a + b, 0),
      recordsAppended: now.recordsAppended - base.recordsAppended,
      forcedAppends: now.forcedAppends - base.forcedAppends,
    }
  }

  private node(id: string): Coordinator | Participant {
    return id === 'coord' ? this.coordinator : this.participant(id)
  }

  async close(): Promise<void> {
    await Promise.all([
      this.coordinator.close(),
      ...[...this.participantSlots.values()].map((s) => s.node.close()),
    ])
  }

  /** Kills the coordinator (unsynced records are lost) and starts a new one on the same log. */
  async restartCoordinator(): Promise<Coordinator> {
    const slot = this.coordinatorSlot
    slot.log.crash()
    await slot.node.close()
    slot.node = this.makeCoordinator(slot.log)
    await slot.node.start()
    return slot.node
  }

  /** Kills a participant (unsynced records are lost) and, unless told otherwise, starts a new one on its log. */
  async crashParticipant(id: string): Promise<void> {
    const slot = this.slot(id)
    slot.log.crash()
    await slot.node.close()
  }

  async startParticipant(id: string): Promise<Participant> {
    const slot = this.slot(id)
    slot.node = this.makeParticipant(id, slot.log)
    await slot.node.start()
    return slot.node
  }

  /** Waits until every node has nothing in flight. */
  async settle(): Promise<void> {
    await expect
      .poll(
        () =>
          [this.coordinator, ...[...this.participantSlots.values()].map((s) => s.node)].every(
            (n) => n.stats().inFlight === 0,
          ),
        {
          timeout: 20_000,
          interval: 5,
        },
      )
      .toBe(true)
  }

  private slot(id: string): NodeSlot<Participant> {
    const slot = this.participantSlots.get(id)
    if (slot === undefined) throw new Error(`no participant ${id}`)
    return slot
  }

  private makeCoordinator(log: MemoryLog): Coordinator {
    this.seed += 1
    return new Coordinator({
      id: 'coord',
      transport: this.net.connect('coord'),
      log,
      random: seededRandom(this.seed),
      ...FAST,
      ...this.options.coordinator,
    })
  }

  private makeParticipant(id: string, log: MemoryLog): Participant {
    this.seed += 1
    return new Participant({
      id,
      transport: this.net.connect(id),
      log,
      resource: this.resource(id),
      random: seededRandom(this.seed),
      ...FAST,
      ...this.options.participant,
    })
  }
}
