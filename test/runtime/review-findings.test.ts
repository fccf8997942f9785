/**
 * Review findings (issue 14 changes). Each test fails on 516f874 and states the expected behaviour.
 * 1-2. Admission control: a `commit()` call let in by `AdmissionQueue.release` begins a microtask
 *   later, in the continuation of its `await`; whatever happens synchronously in between (a listener
 *   of the event that made room closing the node, or aborting the caller's signal) is not seen.
 * 3. Adaptive retransmission timeout: on a lossy network with no latency, losses alone drive the
 *   timeout to its cap (= prepareTimeoutMs by default), after which a lost prepare always aborts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  type CommitOutcome,
  Coordinator,
  MemoryLog,
  MemoryNetwork,
  Participant,
  type Vote,
} from '../../src/index.js'
import { gatedCluster, settle } from '../support/gated-cluster.js'
import { HeldNetwork } from '../support/held-network.js'
import { ManualClock } from '../support/manual-clock.js'

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((node) => node.close()))
})

/** One transaction in flight, ten may wait, and a participant whose `prepare` answers when told. */
const gated = () => gatedCluster(open, { maxInFlightTransactions: 1, maxQueuedTransactions: 10 })

/** Whether `promise` settled (either way) by now. */
function tracked<T>(promise: Promise<T>) {
  const state = { settled: false as boolean, value: undefined as unknown }
  promise.then(
    (value) => {
      state.settled = true
      state.value = value
    },
    (error) => {
      state.settled = true
      state.value = error
    },
  )
  return state
}

describe('review: admission control, between admission and begin', () => {
  it('close() in a listener of the event that let a waiting commit() in: that commit() must still settle (CLOSED)', async () => {
    const { coordinator, answer } = await gated()
    const first = coordinator.commit({ txId: 'a', participants: { p: 1 } })
    const waiting = tracked(coordinator.commit({ txId: 'b', participants: { p: 2 } }))
    await settle()
    coordinator.once('completed', () => {
      void coordinator.close()
    })
    await answer()
    expect((await first).decision).toBe('commit')
    await settle()
    // Bug: 'b' was admitted (release) before close() rejected the waiters, so rejectAll missed it;
    // its continuation then began it on the closed node: its promise never settles.
    expect(waiting.settled).toBe(true)
    expect(waiting.value).toMatchObject({ code: 'CLOSED' })
  })

  it('a signal aborted after admission but before begin: the call must not begin (cancelled)', async () => {
    const { coordinator, prepared, answer } = await gated()
    const first = coordinator.commit({ txId: 'a', participants: { p: 1 } })
    const controller = new AbortController()
    const second = coordinator.commit({ txId: 'b', participants: { p: 2 }, signal: controller.signal })
    await settle()
    coordinator.once('completed', () => controller.abort())
    await answer()
    expect((await first).decision).toBe('commit')
    await answer() // answers 'b' too, if it began
    // Bug: admit() removed the abort listener, the continuation does not look at signal.aborted, and
    // the cancel listener it adds to the already-aborted signal never fires: 'b' prepares and commits.
    expect(prepared).toEqual(['a'])
    expect(await second).toEqual<CommitOutcome>({ txId: 'b', decision: 'abort', reason: 'cancelled' })
  })
})

describe('review: adaptive retransmission timeout on a lossy, fast network', () => {
  it('a few lost prepares (no latency at all) must not push the resend past prepareTimeoutMs', async () => {
    // Library defaults: retransmitIntervalMs 1000, retransmitIntervalMsMax 5000, prepareTimeoutMs 5000.
    const clock = new ManualClock()
    const lost = new Set<string>()
    // The first copy of each transaction's prepare to `a` is lost; every other message arrives at once.
    const net = new HeldNetwork((message) => {
      if (message.type !== 'prepare' || message.to !== 'a' || lost.has(message.txId)) return false
      lost.add(message.txId)
      return true
    })
    const timings = { clock, random: () => 0.99 }
    const coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log: new MemoryLog(),
      ...timings,
    })
    const resource = { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} }
    const participants = ['a', 'b'].map(
      (id) => new Participant({ id, transport: net.connect(id), log: new MemoryLog(), resource, ...timings }),
    )
    open.push(coordinator, ...participants)
    await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
    const outcomes: string[] = []
    for (const txId of ['t1', 't2', 't3', 't4', 't5', 't6']) {
      let outcome: CommitOutcome | undefined
      void coordinator.commit({ txId, participants: { a: 1, b: 2 } }).then((settled) => {
        outcome = settled
      })
      for (let step = 0; outcome === undefined || coordinator.stats().inFlight > 0; step++) {
        if (step > 10_000) throw new Error(`${txId} did not finish`)
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
        net.flush()
        clock.advanceTo(clock.time + 10)
      }
      outcomes.push(
        outcome.decision === 'abort' ? `${txId} abort (${outcome.reason})` : `${txId} ${outcome.decision}`,
      )
    }
    // Each lost prepare is one resend away from a commit (the backoff resends it after ~1 s). With
    // the floor, each loss is measured as a round trip ("timed from its first copy") of the resend
    // delay, which the floor itself set: the timeout climbs to its cap (5000 = prepareTimeoutMs) and
    // from then on a lost prepare is never resent before the prepare timeout.
    expect(outcomes).toEqual(['t1 commit', 't2 commit', 't3 commit', 't4 commit', 't5 commit', 't6 commit'])
  })
})

describe('review: a resource whose prepare returns a thenable with a throwing `then`', () => {
  it('votes no and reports it, without an uncaught exception', async () => {
    const net = new MemoryNetwork()
    const errors: unknown[] = []
    const resource = {
      prepare: () =>
        ({
          // biome-ignore lint/suspicious/noThenProperty: the point of the test
          then() {
            throw new Error('bad thenable')
          },
        }) as unknown as Promise<Vote>,
      commit: () => {},
      abort: () => {},
    }
    const coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log: new MemoryLog(),
    })
    const participants = ['a', 'b'].map(
      (id) => new Participant({ id, transport: net.connect(id), log: new MemoryLog(), resource }),
    )
    participants[0]?.on('resource-error', (event) => errors.push(event.error))
    open.push(coordinator, ...participants)
    await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
    const outcome = await coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'vote-no' })
    expect(errors).toEqual([expect.objectContaining({ message: 'bad thenable' })])
  })
})

describe('review (session 4): an id begun again before its earlier run has completed', () => {
  it('a commit() of an id the core forgot, begun in a listener of its earlier run, still settles', async () => {
    // The coordinator remembers one finished transaction, so X can be begun again once Y finished;
    // X's 'decided' listener does so before X's 'completed' arrives. Found by review: merging the
    // coordinator's per-transaction maps made that 'completed' drop the new run's commit() waiter.
    const net = new MemoryNetwork()
    const inner = new MemoryLog()
    const held: (() => void)[] = []
    let holding = false
    const log = {
      load: () => inner.load(),
      append: (records: Parameters<MemoryLog['append']>[0]) => {
        const appended = inner.append(records)
        if (!holding) return appended
        return appended.then(() => new Promise<void>((resolve) => held.push(resolve)))
      },
      forget: (txIds: readonly string[]) => inner.forget(txIds),
    }
    const coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log,
      rememberedTransactions: 1,
    })
    const participants = (['q1', 'q2', 'p1', 'p2'] as const).map(
      (id) =>
        new Participant({
          id,
          transport: net.connect(id),
          log: new MemoryLog(),
          resource: {
            prepare: () => (id.startsWith('q') ? 'yes' : 'read-only'),
            commit: () => {},
            abort: () => {},
          },
        }),
    )
    open.push(coordinator, ...participants)
    await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
    holding = true
    const b = coordinator.commit({ txId: 'B', participants: { q1: 1, q2: 1 } })
    while (held.length === 0) await settle(1)
    holding = false
    // Both wait behind B's record; once it is durable, their votes arrive in one turn, so the core
    // finishes X, then Y (which pushes X out of its memory), before X's events are delivered.
    const x = coordinator.commit({ txId: 'X', participants: { p1: 1, p2: 1 } })
    const y = coordinator.commit({ txId: 'Y', participants: { p1: 1, p2: 1 } })
    let again: ReturnType<typeof tracked> | undefined
    coordinator.on('decided', (event) => {
      if (event.txId === 'X' && again === undefined)
        again = tracked(coordinator.commit({ txId: 'X', participants: { p1: 2, p2: 2 } }))
    })
    for (const release of held.splice(0)) release()
    await Promise.all([b, x, y])
    while (again === undefined) await settle(1)
    await coordinator.completion('X')
    await settle()
    expect(again.settled).toBe(true)
    expect(again.value).toEqual({ txId: 'X', decision: 'commit' })
  })
})
