import { join } from 'node:path'
import type { Json, Vote } from '../../src/index.js'
import type { System } from '../system.js'
import { type Mix, participantIds, payloads, voteIn } from '../workloads.js'
import { GroupWriter } from './group-writer.js'

/** A record of the naive durable 2PC: one JSON line, no checksum. */
function line(record: object): Buffer {
  return Buffer.from(`${JSON.stringify(record)}\n`)
}

/**
 * A JSON round trip: how the cloning naive copies a message. Chosen over `structuredClone`
 * because it is what a hand-written in-process 2PC would pick for plain-JSON messages — it is the
 * faster of the two on these small objects (about 1.4 µs against 1.7 µs on Node 20), it is what
 * twopc's own MemoryNetwork does, and it keeps the wire's rule (JSON values only).
 */
function copy<T>(message: T): T {
  return JSON.parse(JSON.stringify(message)) as T
}

/** A naive participant: a map of prepared transactions, and optionally a {@link GroupWriter}. */
class NaiveParticipant {
  private readonly prepared = new Map<string, Json>()

  constructor(
    private readonly log: GroupWriter | undefined,
    private readonly vote: (payload: Json) => Vote | Promise<Vote>,
  ) {}

  async prepare(txId: string, payload: Json): Promise<Vote> {
    const vote = await this.vote(payload)
    if (vote !== 'yes') return vote
    this.prepared.set(txId, payload)
    if (this.log !== undefined) await this.log.append(line({ type: 'prepared', txId, payload }))
    return vote
  }

  async commit(txId: string): Promise<void> {
    if (this.log !== undefined) await this.log.append(line({ type: 'outcome', txId, decision: 'commit' }))
    this.prepared.delete(txId)
    this.log?.appendLazy(line({ type: 'end', txId }))
  }

  abort(txId: string): void {
    this.prepared.delete(txId)
    this.log?.appendLazy(line({ type: 'outcome', txId, decision: 'abort' }))
  }
}

/** How the naive coordinator reaches a participant: a call and its reply are two messages. */
interface Calls {
  prepare(participant: NaiveParticipant, txId: string, payload: Json): Promise<Vote>
  commit(participant: NaiveParticipant, txId: string): Promise<void>
  abort(participant: NaiveParticipant, txId: string): void
}

/** Arguments and results by reference: nothing is copied. */
const DIRECT_CALLS: Calls = {
  prepare: (participant, txId, payload) => participant.prepare(txId, payload),
  commit: (participant, txId) => participant.commit(txId),
  abort: (participant, txId) => participant.abort(txId),
}

/** Every message, call or reply, is copied once as its receiver gets it. */
const COPYING_CALLS: Calls = {
  prepare: async (participant, txId, payload) => {
    const prepare = copy({ type: 'prepare', txId, payload })
    const vote = await participant.prepare(prepare.txId, prepare.payload)
    return copy({ type: 'vote', txId, vote }).vote
  },
  commit: async (participant, txId) => {
    await participant.commit(copy({ type: 'commit', txId }).txId)
    copy({ type: 'ack', txId })
  },
  abort: (participant, txId) => participant.abort(copy({ type: 'abort', txId }).txId),
}

/** Which naive 2PC: in memory (no durability at all), or durable on one {@link GroupWriter} per node. */
export interface Naive2pcSpec {
  readonly n: number
  readonly mix: Mix
  /** Directory for the durable variant's files; `undefined` for the in-memory one. */
  readonly directory: string | undefined
  /**
   * Copies every message once on delivery (calls and replies), as a process boundary or a
   * JSON-only wire would: the in-memory floor of a 2PC whose nodes share no objects.
   * @default false (arguments and results are passed by reference: the no-copy floor)
   */
  readonly clone?: boolean
  /** How a participant votes. @default the vote in the payload (see `voteIn`) */
  readonly vote?: (payload: Json) => Vote | Promise<Vote>
}

/**
 * The naive 2PC baselines, written for the benchmark: the coordinator calls each participant's
 * methods directly (no messages, no validation, no timers, no retransmission, no recovery) —
 * presumed abort, yes votes logged before voting, commit logged before phase 2, outcome logged
 * before the ack. Without a directory nothing is durable: the floor of the protocol itself (with
 * `clone`, the floor of nodes that share no objects: each message copied once). With
 * one, it is the floor of a durable 2PC on this disk: the same 2N+1 forced writes per commit as
 * twopc, each node on its own group-commit file, and exactly 2N+1 fsyncs at C=1 (its lazy `end`
 * and abort records never sync on their own: they ride with the next forced write). Messages count a call and its reply as two.
 */
export async function startNaive2pc(spec: Naive2pcSpec): Promise<System> {
  const ids = participantIds(spec.n)
  const open = (id: string) =>
    spec.directory === undefined ? undefined : GroupWriter.open(join(spec.directory, `naive-${id}.log`))
  const coordinatorLog = await open('coord')
  const logs = await Promise.all(ids.map(open))
  const participants = logs.map((log) => new NaiveParticipant(log, spec.vote ?? voteIn))
  const calls = spec.clone === true ? COPYING_CALLS : DIRECT_CALLS
  let messages = 0
  let forcedWrites = 0
  const transact = async (index: number) => {
    const txId = String(index)
    const shares = payloads(spec.mix, index, spec.n)
    const votes = await Promise.all(
      participants.map((participant, i) =>
        calls.prepare(participant, txId, shares[ids[i] as string] as Json),
      ),
    )
    messages += 2 * spec.n
    const yes = participants.filter((_, i) => votes[i] === 'yes')
    const durable = coordinatorLog !== undefined
    if (durable) forcedWrites += yes.length // the prepared records
    if (votes.includes('no')) {
      const decidedAt = performance.now()
      for (const participant of yes) calls.abort(participant, txId)
      messages += yes.length
      return { decidedAt, completedAt: decidedAt }
    }
    if (yes.length === 0) {
      const decidedAt = performance.now()
      return { decidedAt, completedAt: decidedAt }
    }
    if (coordinatorLog !== undefined) await coordinatorLog.append(line({ type: 'commit', txId }))
    const decidedAt = performance.now()
    await Promise.all(yes.map((participant) => calls.commit(participant, txId)))
    messages += 2 * yes.length
    if (durable) forcedWrites += 1 + yes.length // the commit record and the outcomes
    coordinatorLog?.appendLazy(line({ type: 'end', txId }))
    return { decidedAt, completedAt: performance.now() }
  }
  const writers = [coordinatorLog, ...logs].filter((log) => log !== undefined)
  return {
    transact,
    counters: async () => ({
      messages,
      bytes: undefined,
      forcedWrites,
      fsyncs: coordinatorLog === undefined ? undefined : writers.reduce((sum, log) => sum + log.syncs, 0),
    }),
    close: async () => {
      await Promise.all(writers.map((log) => log.close()))
    },
  }
}
