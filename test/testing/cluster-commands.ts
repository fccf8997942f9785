/**
 * fast-check commands over a simulated cluster of real cores (see model-based.test.ts), shared by
 * the model-based tests and the mutant tests. Each command applies actions to a `SimCluster`
 * and then checks the model: a decision, once held by anyone, never changes.
 */
import { fc } from '@fast-check/vitest'
import { expect } from 'vitest'
import type { Decision, NodeId, TxId } from '../../src/core/types.js'
import { seededRandom } from '../../src/runtime/seeded-random.js'
import type { MutantName } from '../../src/testing/mutants.js'
import { SimCluster } from '../../src/testing/sim-cluster.js'
import { SimLinks } from '../../src/testing/sim-network.js'
import { type PrepareBehaviour, resourceResult } from '../../src/testing/sim-resource.js'
import { runToTermination } from '../../src/testing/simulator.js'
import { formatTrace, type SimAction } from '../../src/testing/trace.js'

/** What has been decided: the model the commands check the cluster against. */
export interface Model {
  /** Transactions begun (or attempted) so far. */
  transactions: number
  /** The decision of each transaction, once anyone holds one. */
  readonly decided: Map<TxId, Decision>
}

/** The system under test: a simulated cluster, its link faults and the commands' randomness. */
export interface Real {
  readonly cluster: SimCluster
  readonly links: SimLinks
  readonly random: () => number
  readonly trace: string[]
}

const PARTICIPANTS: readonly NodeId[] = ['p1', 'p2', 'p3']
const NODES: readonly NodeId[] = ['coord', ...PARTICIPANTS]

function apply(real: Real, action: SimAction): void {
  const line = real.cluster.apply(action)
  if (line !== undefined) real.trace.push(`[${real.cluster.now}ms] ${line}`)
}

/** Runs every effect that may run now (effects are immediate in the runtime once records are durable). */
function settle(real: Real): void {
  for (let progress = true; progress; ) {
    progress = false
    for (const node of real.cluster.nodes.values()) {
      while (
        node.up &&
        real.cluster.node(node.id).releasable !== undefined &&
        real.cluster.violation === undefined
      ) {
        apply(real, { type: 'effect', node: node.id })
        progress = true
      }
    }
  }
}

/** Checks the cluster's own invariants and the model: a decision, once held anywhere, never changes. */
function check(model: Model, real: Real): void {
  const violation = real.cluster.violation
  if (violation !== undefined) {
    throw new Error(
      `${violation.invariant} violated: ${violation.message}\n${formatTrace(real.trace, { last: 60 })}`,
    )
  }
  for (const txId of real.cluster.tracker.txIds) {
    const decisions = real.cluster.tracker.decisions(txId)
    const known = model.decided.get(txId)
    const [first] = decisions
    if (known === undefined && first !== undefined) model.decided.set(txId, first)
    expect(decisions.filter((decision) => decision !== (known ?? first))).toEqual([])
  }
}

abstract class SimCommand implements fc.Command<Model, Real> {
  check(_model: Readonly<Model>): boolean {
    return true
  }
  run(model: Model, real: Real): void {
    this.act(model, real)
    settle(real)
    check(model, real)
  }
  abstract act(model: Model, real: Real): void
  abstract toString(): string
}

/** The Begin command (see the file comment). */
export class Begin extends SimCommand {
  constructor(readonly members: readonly NodeId[]) {
    super()
  }
  override check(model: Readonly<Model>): boolean {
    return model.transactions < 5
  }
  act(model: Model, real: Real): void {
    model.transactions += 1
    apply(real, { type: 'begin', txId: `t${model.transactions}`, participants: this.members })
  }
  toString(): string {
    return `Begin(${this.members.join(',')})`
  }
}

/** Acts on the `index`-th message in flight (modulo their number). */
abstract class OnMessage extends SimCommand {
  constructor(readonly index: number) {
    super()
  }
  act(_model: Model, real: Real): void {
    const entries = real.cluster.network.inFlight
    const entry = entries[this.index % Math.max(1, entries.length)]
    if (entry !== undefined) this.on(real, entry.key, entry.id, entry.message.from, entry.message.to)
  }
  abstract on(real: Real, key: string, id: number, from: NodeId, to: NodeId): void
}

/** The Deliver command (see the file comment). */
export class Deliver extends OnMessage {
  on(real: Real, key: string, id: number, from: NodeId, to: NodeId): void {
    if (real.links.isHeld(from, to)) return
    if (real.links.isBlocked(from, to)) return apply(real, { type: 'lose', key, id, reason: 'partition' })
    if (!real.cluster.node(to).up) return apply(real, { type: 'lose', key, id, reason: 'recipient-down' })
    apply(real, { type: 'deliver', key, id })
  }
  toString(): string {
    return `Deliver(${this.index})`
  }
}

/** The Drop command (see the file comment). */
export class Drop extends OnMessage {
  on(real: Real, key: string, id: number): void {
    apply(real, { type: 'lose', key, id, reason: 'loss' })
  }
  toString(): string {
    return `Drop(${this.index})`
  }
}

/** The Duplicate command (see the file comment). */
export class Duplicate extends OnMessage {
  on(real: Real, key: string, id: number): void {
    apply(real, { type: 'duplicate', key, id })
  }
  toString(): string {
    return `Duplicate(${this.index})`
  }
}

/** Time passes: disks sync, and due timers and resource calls fire in time order. */
export class Advance extends SimCommand {
  constructor(readonly ms: number) {
    super()
  }
  act(_model: Model, real: Real): void {
    const { cluster } = real
    const until = cluster.now + this.ms
    for (const node of cluster.nodes.values())
      if (node.disk.unsynced > 0) apply(real, { type: 'sync', node: node.id })
    settle(real)
    for (let guard = 0; guard < 1000 && cluster.violation === undefined; guard++) {
      const due: { at: number; action: SimAction }[] = []
      for (const node of cluster.nodes.values()) {
        if (!node.up) continue
        for (const timer of node.timers.values()) {
          if (timer.dueAt <= until) {
            due.push({
              at: timer.dueAt,
              action: { type: 'fire', node: node.id, txId: timer.txId, timer: timer.timer },
            })
          }
        }
        for (const call of node.calls) {
          const hangs = call.request.type === 'prepare' && node.behaviour.prepare === 'hangs'
          const at = call.dueAt + (hangs ? cluster.timing.participantPrepareTimeoutMs : 5)
          if (at > until) continue
          const result = resourceResult(
            node.behaviour,
            call,
            real.random,
            node.answers.get(call.request.tx.txId),
          )
          if (result.type === 'failed') call.dueAt = at
          due.push({
            at,
            action: {
              type: 'resource',
              node: node.id,
              txId: call.request.tx.txId,
              operation: call.request.type,
              result,
            },
          })
        }
      }
      const next = due.sort((a, b) => a.at - b.at)[0]
      if (next === undefined) break
      cluster.now = Math.max(cluster.now, next.at)
      apply(real, next.action)
      for (const node of cluster.nodes.values())
        if (node.disk.unsynced > 0) apply(real, { type: 'sync', node: node.id })
      settle(real)
    }
    cluster.now = until
  }
  toString(): string {
    return `Advance(${this.ms}ms)`
  }
}

/** The Sync command (see the file comment). */
export class Sync extends SimCommand {
  constructor(readonly node: NodeId) {
    super()
  }
  act(_model: Model, real: Real): void {
    apply(real, { type: 'sync', node: this.node })
  }
  toString(): string {
    return `Sync(${this.node})`
  }
}

/** A crash right now, or after syncing and running `afterEffects` effects of the node (between two effects). */
export class Crash extends SimCommand {
  constructor(
    readonly node: NodeId,
    readonly keep: number,
    readonly torn: boolean,
    readonly afterEffects: number,
  ) {
    super()
  }
  override run(model: Model, real: Real): void {
    const { cluster } = real
    if (this.afterEffects > 0 && cluster.node(this.node).up) {
      apply(real, { type: 'sync', node: this.node })
      for (let i = 0; i < this.afterEffects; i++) apply(real, { type: 'effect', node: this.node })
    }
    this.act(model, real)
    settle(real)
    check(model, real)
  }
  act(_model: Model, real: Real): void {
    const unsynced = real.cluster.node(this.node).disk.unsynced
    const keep = this.keep % (unsynced + 1)
    apply(real, { type: 'crash', node: this.node, keep, torn: this.torn && keep < unsynced })
  }
  toString(): string {
    return `Crash(${this.node}, keep ${this.keep}${this.torn ? ', torn' : ''}${this.afterEffects > 0 ? `, after ${this.afterEffects} effects` : ''})`
  }
}

/** The Restart command (see the file comment). */
export class Restart extends SimCommand {
  constructor(readonly node: NodeId) {
    super()
  }
  act(_model: Model, real: Real): void {
    apply(real, { type: 'restart', node: this.node })
  }
  toString(): string {
    return `Restart(${this.node})`
  }
}

/** The Partition command (see the file comment). */
export class Partition extends SimCommand {
  constructor(
    readonly a: NodeId,
    readonly b: NodeId,
    readonly oneWay: boolean,
  ) {
    super()
  }
  act(_model: Model, real: Real): void {
    if (this.a !== this.b) real.links.block(this.a, this.b, !this.oneWay)
  }
  toString(): string {
    return `Partition(${this.a} ${this.oneWay ? '→' : '↔'} ${this.b})`
  }
}

/** The Clog command (see the file comment). */
export class Clog extends SimCommand {
  constructor(readonly node: NodeId) {
    super()
  }
  act(_model: Model, real: Real): void {
    real.links.clog(this.node)
  }
  toString(): string {
    return `Clog(${this.node})`
  }
}

/** The Heal command (see the file comment). */
export class Heal extends SimCommand {
  act(_model: Model, real: Real): void {
    real.links.heal()
  }
  toString(): string {
    return 'Heal'
  }
}

/** The ResourceBehaviour command (see the file comment). */
export class ResourceBehaviour extends SimCommand {
  constructor(
    readonly node: NodeId,
    readonly prepare: PrepareBehaviour,
    readonly applyFailures: number,
  ) {
    super()
  }
  act(_model: Model, real: Real): void {
    real.cluster.setBehaviour(this.node, { prepare: this.prepare, applyFailures: this.applyFailures })
  }
  toString(): string {
    return `ResourceBehaviour(${this.node}: ${this.prepare}${this.applyFailures > 0 ? `, commit fails ${this.applyFailures}×` : ''})`
  }
}

const participant = fc.constantFrom(...PARTICIPANTS)
const node = fc.constantFrom(...NODES)
/** Arbitraries of every command. */
export const clusterCommands = [
  fc.uniqueArray(participant, { minLength: 1, maxLength: 3 }).map((members) => new Begin(members)),
  fc.nat(20).map((i) => new Deliver(i)),
  fc.nat(20).map((i) => new Deliver(i)),
  fc.nat(20).map((i) => new Deliver(i)),
  fc.nat(20).map((i) => new Drop(i)),
  fc.nat(20).map((i) => new Duplicate(i)),
  fc.integer({ min: 1, max: 1500 }).map((ms) => new Advance(ms)),
  fc.integer({ min: 1, max: 1500 }).map((ms) => new Advance(ms)),
  node.map((id) => new Sync(id)),
  fc
    .tuple(node, fc.nat(3), fc.boolean(), fc.nat(3))
    .map(([id, keep, torn, after]) => new Crash(id, keep, torn, after)),
  node.map((id) => new Restart(id)),
  fc.tuple(node, node, fc.boolean()).map(([a, b, oneWay]) => new Partition(a, b, oneWay)),
  node.map((id) => new Clog(id)),
  fc.constant(new Heal()),
  fc
    .tuple(
      participant,
      fc.constantFrom<PrepareBehaviour>('yes', 'no', 'read-only', 'throws', 'hangs'),
      fc.nat(2),
    )
    .map(([id, prepare, failures]) => new ResourceBehaviour(id, prepare, failures)),
]

/** Options of {@link clusterProperty}. */
export interface ClusterPropertyOptions {
  readonly mutant?: MutantName
  readonly maxCommands?: number
  readonly replayPath?: string
  /** Called once per run with the number of commands it ran. */
  readonly onRun?: (commands: number) => void
}

/**
 * The model-based property: a fresh cluster (3 participants, compaction drawn), a command
 * sequence run against it with `fc.modelRun`, then the liveness phase, which must reach L1.
 */
export function clusterProperty(options: ClusterPropertyOptions = {}) {
  return fc.property(
    fc.integer(),
    fc.boolean(),
    fc.commands(clusterCommands, {
      maxCommands: options.maxCommands ?? 80,
      size: 'large',
      ...(options.replayPath === undefined ? {} : { replayPath: options.replayPath }),
    }),
    (seed, compaction, sequence) => {
      runCommands(seed, compaction, sequence, options.mutant)
      options.onRun?.([...sequence].length)
    },
  )
}

/**
 * Runs one command sequence on a fresh cluster (3 participants) and then the liveness phase;
 * throws with the trace if an invariant breaks, the model is contradicted, or L1 is not reached.
 * Replays a counterexample fast-check printed: `runCommands(seed, compaction, [new Begin(['p2']), …])`.
 */
export function runCommands(
  seed: number,
  compaction: boolean,
  sequence: Iterable<fc.Command<Model, Real>>,
  mutant?: MutantName,
): Real {
  const real: Real = {
    cluster: new SimCluster({
      participants: PARTICIPANTS,
      random: seededRandom(seed),
      compaction,
      timing: { retransmitIntervalMs: 40, retransmitIntervalMsMax: 320, prepareTimeoutMs: 300 },
      ...(mutant === undefined ? {} : { mutant }),
    }),
    links: new SimLinks(),
    random: seededRandom(seed ^ 0x2545f491),
    trace: [],
  }
  const model: Model = { transactions: 0, decided: new Map() }
  fc.modelRun(() => ({ model, real }), sequence)
  const end = runToTermination(real.cluster, { seed })
  real.trace.push(...end.trace)
  if (end.violation !== undefined) {
    throw new Error(
      `${end.violation.invariant}: ${end.violation.message}\n${formatTrace(real.trace, { last: 80 })}`,
    )
  }
  check(model, real)
  return real
}
