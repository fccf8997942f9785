import type { Message } from '../core/messages.js'
import type {
  CoordinatorCoreEvent,
  ParticipantCoreEvent,
  Ready,
  ResourceRequest,
  TimerEffect,
  TimerKind,
} from '../core/ready.js'
import type { LogRecord } from '../core/records.js'
import type { NodeId, TxId, Vote } from '../core/types.js'
import { ReadyQueue } from '../runtime/ready-queue.js'
import { cloneDeep } from './canonical.js'
import type { CoordinatorSimCore, ParticipantSimCore } from './mutants.js'
import { SimDisk } from './sim-disk.js'
import { HAPPY_RESOURCE, type ResourceBehaviour, type ResourceCall } from './sim-resource.js'
import { assertWellFormed } from './well-formed.js'

/** An event of either core. */
export type SimEvent = CoordinatorCoreEvent | ParticipantCoreEvent

/**
 * A `Ready` whose effects have not all run yet. Effects run in the runtime's order, one `Ready`
 * after another, and not before `durableAt` when its records were forced: the node releases them
 * through the runtime's own {@link ReadyQueue}.
 */
export interface PendingReady {
  /** Disk position its forced records end at; undefined when it need not wait for the disk. */
  readonly durableAt: number | undefined
  /** Messages not sent yet. */
  readonly messages: Message[]
  /** Whether some of its messages were already sent (for the `crash-between-sends` probe). */
  sentSome: boolean
  readonly timers: readonly TimerEffect[]
  readonly requests: readonly ResourceRequest[]
  readonly events: readonly SimEvent[]
  /** It answers a `decision-request` (for the probes). */
  readonly answers: boolean
  /** It came from `recover` (for the probes). */
  readonly recovery: boolean
}

/** A timer armed on a simulated node. */
export interface ArmedTimer {
  readonly txId: TxId
  readonly timer: TimerKind
  /** Simulated time it fires at (the model checker ignores it: any armed timer may fire). */
  readonly dueAt: number
}

/**
 * One simulated node: its core (absent while crashed), disk, pending `Ready`s, armed timers and
 * resource calls in progress. The cluster drives it; it holds no logic beyond queueing a `Ready`
 * the way the runtime executes one.
 */
export class SimNode {
  /** The core of the current incarnation; undefined while the node is down. */
  core: CoordinatorSimCore | ParticipantSimCore | undefined
  /** `Ready`s in execution order, released by the runtime's queue. */
  pending: ReadyQueue<PendingReady>
  /** Armed timers by `kind txId`. */
  timers = new Map<string, ArmedTimer>()
  /** Resource calls in progress (participants). */
  calls: ResourceCall[] = []
  /** Bumped at each restart. */
  incarnation = 0
  /** Crashed at this simulated time; undefined while up. */
  downSince: number | undefined
  /**
   * What the resource answered to `prepare`, by transaction. It is the resource's memory, not the
   * node's, so it survives crashes; the simulator and the model checker use it to keep a
   * resource's vote stable (unless it is fickle).
   */
  answers = new Map<TxId, Vote>()
  /** Canonical strings of this node by renaming, computed on demand; cleared whenever it changes. */
  canonicalCache = new Map<string, string>()

  /** Creates a simulated node around a core; called by `SimCluster` only. */
  constructor(
    readonly id: NodeId,
    readonly role: 'coordinator' | 'participant',
    public behaviour: ResourceBehaviour = HAPPY_RESOURCE,
    readonly disk: SimDisk = new SimDisk(),
    pending: ReadyQueue<PendingReady> = new ReadyQueue(),
  ) {
    this.pending = pending
  }

  /** Whether the node is running. */
  get up(): boolean {
    return this.core !== undefined
  }

  /** The oldest pending `Ready` if its effects may run now (its forced records are durable). */
  get releasable(): PendingReady | undefined {
    return this.pending.releasable
  }

  /** The disk synced: every pending `Ready` whose forced records it covers is durable (as a log acknowledges its append). */
  synced(): void {
    for (const ready of this.pending.items) {
      if (ready.durableAt !== undefined && ready.durableAt <= this.disk.durablePosition)
        this.pending.markDurable(ready)
    }
  }

  /**
   * Executes the first part of a `Ready` as the runtime does: its records go to the disk now
   * (unsynced), and the rest waits in {@link pending}. A `Ready` with forced records is queued
   * even with no effects, because in the runtime it still holds back every later `Ready` until
   * its records are durable (the gate). Any other `Ready` with nothing but `message-dropped`
   * events is not queued: it has no effect and no invariant reads it.
   */
  enqueue(ready: Ready<SimEvent>, flags: { readonly answers: boolean; readonly recovery: boolean }): void {
    assertWellFormed(this.id, ready)
    let durableAt: number | undefined
    if (ready.records.length > 0) {
      const end = this.disk.append(ready.records)
      if (ready.forceRecords) durableAt = end
    }
    const events = ready.events.filter((event) => event.type !== 'message-dropped')
    if (
      durableAt === undefined &&
      ready.messages.length === 0 &&
      ready.timers.length === 0 &&
      ready.requests.length === 0 &&
      events.length === 0
    ) {
      return
    }
    this.pending.push(
      {
        durableAt,
        messages: [...ready.messages],
        sentSome: false,
        timers: ready.timers,
        requests: ready.requests,
        events,
        answers: flags.answers,
        recovery: flags.recovery,
      },
      durableAt === undefined,
    )
  }

  /** Arms or clears a timer. */
  applyTimer(effect: TimerEffect, now: number): void {
    const key = `${effect.timer} ${effect.txId}`
    if (effect.type === 'set-timer') {
      this.timers.set(key, { txId: effect.txId, timer: effect.timer, dueAt: now + effect.delayMs })
    } else {
      this.timers.delete(key)
    }
  }

  /**
   * A power cut: the core, pending effects, timers and resource calls vanish; the disk keeps what
   * it keeps. Returns the unsynced records that survived.
   */
  crash(keep: number, torn: boolean, now: number): readonly LogRecord[] {
    this.core = undefined
    this.pending.clear()
    this.timers.clear()
    this.calls = []
    this.downSince = now
    return this.disk.crash(keep, torn)
  }

  /** An independent copy (the core is deep-copied; the model checker branches on it). */
  clone(): SimNode {
    const pending = this.pending.clone((ready) => ({ ...ready, messages: [...ready.messages] }))
    const copy = new SimNode(this.id, this.role, this.behaviour, this.disk.clone(), pending)
    copy.core = this.core === undefined ? undefined : cloneDeep(this.core)
    copy.timers = new Map(this.timers)
    copy.calls = this.calls.map((call) => ({ ...call }))
    copy.incarnation = this.incarnation
    copy.downSince = this.downSince
    copy.answers = new Map(this.answers)
    return copy
  }
}
