/**
 * Issue 14, "graceful under overload": admission control (`commit()` calls past
 * `maxInFlightTransactions` wait in a bounded queue) and the adaptive retransmission timeout
 * (retransmissions wait at least the measured round trip). Exact counters only: messages sent,
 * transactions in flight, the order transactions begin in.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type CommitOutcome, Coordinator, MemoryLog, MemoryNetwork, Participant } from '../../src/index.js'
import { COORDINATOR_ROUND_TRIPS, RoundTrips } from '../../src/runtime/round-trips.js'
import { gatedCluster, settle } from '../support/gated-cluster.js'
import { HeldNetwork } from '../support/held-network.js'
import { ManualClock } from '../support/manual-clock.js'

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((node) => node.close()))
})

describe('admission control', () => {
  it('past maxInFlightTransactions, commit() calls wait in order; past maxQueuedTransactions they are refused', async () => {
    const { coordinator, prepared, answer } = await gatedCluster(open, {
      maxInFlightTransactions: 2,
      maxQueuedTransactions: 3,
    })
    const outcomes = ['t1', 't2', 't3', 't4', 't5'].map((txId) =>
      coordinator.commit({ txId, participants: { p: txId } }),
    )
    await expect(coordinator.commit({ txId: 't6', participants: { p: 't6' } })).rejects.toMatchObject({
      code: 'TOO_MANY_TRANSACTIONS',
    })
    await settle()
    expect(coordinator.stats().inFlight).toBe(2)
    expect(prepared).toEqual(['t1', 't2'])
    await answer()
    expect(prepared).toEqual(['t1', 't2', 't3', 't4'])
    await answer()
    await answer()
    expect(prepared).toEqual(['t1', 't2', 't3', 't4', 't5'])
    const decided = await Promise.all(outcomes)
    expect(decided.map((outcome) => outcome.decision)).toEqual([
      'commit',
      'commit',
      'commit',
      'commit',
      'commit',
    ])
    // Room again: a new call begins at once.
    const late = coordinator.commit({ txId: 't7', participants: { p: 't7' } })
    await settle()
    expect(prepared.at(-1)).toBe('t7')
    await answer()
    expect((await late).decision).toBe('commit')
  })

  it('a bad request is refused at once, not after waiting for room', async () => {
    const { coordinator, prepared } = await gatedCluster(open, {
      maxInFlightTransactions: 1,
      maxQueuedTransactions: 10,
    })
    void coordinator.commit({ txId: 'a', participants: { p: 1 } }).catch(() => {})
    await settle()
    await expect(coordinator.commit({ txId: 'a', participants: { p: 2 } })).rejects.toMatchObject({
      code: 'DUPLICATE_TRANSACTION',
    })
    await expect(coordinator.commit({ txId: 'b', participants: { coord: 2 } })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })
    await expect(coordinator.commit({ txId: '~b', participants: { p: 2 } })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })
    expect(prepared).toEqual(['a'])
  })

  it('a waiting call cancelled by its signal never begins; close() rejects the others with CLOSED', async () => {
    const { coordinator, prepared } = await gatedCluster(open, {
      maxInFlightTransactions: 1,
      maxQueuedTransactions: 10,
    })
    const first = coordinator.commit({ txId: 'a', participants: { p: 1 } })
    const controller = new AbortController()
    const cancelled = coordinator.commit({ txId: 'b', participants: { p: 2 }, signal: controller.signal })
    const waiting = coordinator.commit({ txId: 'c', participants: { p: 3 } })
    controller.abort()
    expect(await cancelled).toEqual<CommitOutcome>({ txId: 'b', decision: 'abort', reason: 'cancelled' })
    await settle()
    expect(prepared).toEqual(['a'])
    expect(coordinator.status('b').state).toBe('unknown')
    await coordinator.close()
    await expect(waiting).rejects.toMatchObject({ code: 'CLOSED' })
    await expect(first).rejects.toMatchObject({ code: 'CLOSED' })
  })

  it('thousands of waiting calls cancelled and let in keep their order and their count', async () => {
    const { coordinator, prepared, answer } = await gatedCluster(open, {
      maxInFlightTransactions: 1,
      maxQueuedTransactions: 5_000,
    })
    const first = coordinator.commit({ txId: 'first', participants: { p: 0 } })
    const controllers = Array.from({ length: 3_000 }, () => new AbortController())
    const waiting = controllers.map((controller, i) =>
      coordinator.commit({ txId: `w${i}`, participants: { p: i }, signal: controller.signal }),
    )
    // Every waiting call but the last three is cancelled (the queue compacts them away).
    for (const controller of controllers.slice(0, -3)) controller.abort()
    await settle()
    const late = coordinator.commit({ txId: 'late', participants: { p: 0 } })
    for (let round = 0; round < 5; round++) await answer()
    expect(prepared).toEqual(['first', 'w2997', 'w2998', 'w2999', 'late'])
    expect((await first).decision).toBe('commit')
    const outcomes = await Promise.all(waiting)
    expect(outcomes.filter((outcome) => outcome.decision === 'abort')).toHaveLength(2_997)
    expect(outcomes.slice(-3).map((outcome) => outcome.decision)).toEqual(['commit', 'commit', 'commit'])
    expect((await late).decision).toBe('commit')
  })

  it('with the default maxQueuedTransactions (0), a call past maxInFlightTransactions is refused at once', async () => {
    const { coordinator } = await gatedCluster(open, { maxInFlightTransactions: 1 })
    void coordinator.commit({ participants: { p: 1 } }).catch(() => {})
    await expect(coordinator.commit({ participants: { p: 2 } })).rejects.toMatchObject({
      code: 'TOO_MANY_TRANSACTIONS',
    })
  })

  it.each([-1, 1.5, '10'])('rejects maxQueuedTransactions %j with INVALID_OPTIONS', (value) => {
    const net = new MemoryNetwork()
    expect(
      () =>
        new Coordinator({
          id: 'c',
          transport: net.connect('c'),
          log: new MemoryLog(),
          maxQueuedTransactions: value as number,
        }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTIONS',
        message: expect.stringContaining('maxQueuedTransactions'),
      }),
    )
  })
})

describe('adaptive retransmission timeout', () => {
  it("RoundTrips: one request timed at a time, RFC 6298 smoothing, Karn's rule with back-off, capped", () => {
    let now = 0
    const clock = { now: () => now }
    const prepare = (txId: string, to: string) => ({ v: 2, type: 'prepare', txId, from: 'c', to }) as never
    const vote = (txId: string, from: string) =>
      ({ v: 2, type: 'vote', txId, from, to: 'c', vote: 'yes' }) as never
    /** Runs `event` on `rtt` at time `ms`. */
    const at = (ms: number, event: () => void) => {
      now = ms
      event()
    }
    const rtt = new RoundTrips(COORDINATOR_ROUND_TRIPS, clock, 5000)
    expect(rtt.timeoutMs).toBe(0)
    at(0, () => rtt.sent(prepare('t1', 'a'))) // timed
    at(0, () => rtt.sent(prepare('t1', 'b'))) // not: one at a time
    at(10, () => rtt.sent(prepare('t2', 'a')))
    at(300, () => rtt.sent(prepare('t1', 'a'))) // the timed request resent: back off to 2 × 300
    expect(rtt.timeoutMs).toBe(600)
    at(900, () => rtt.received(vote('t1', 'b'))) // not the node timed
    at(950, () => rtt.received(vote('t2', 'a'))) // not the request timed
    at(1000, () => rtt.received(vote('t1', 'a'))) // resent, so no sample (Karn); the back-off stays
    expect(rtt.timeoutMs).toBe(600)
    at(2000, () => rtt.sent(prepare('t3', 'a')))
    at(2600, () => rtt.received(vote('t3', 'a'))) // first sample: SRTT 600, RTTVAR 300
    expect(rtt.timeoutMs).toBe(600 + 4 * 300)
    at(3000, () => rtt.sent(prepare('t4', 'a')))
    at(3300, () => rtt.received(vote('t4', 'a')))
    // RTTVAR = 3/4 × 300 + 1/4 × |600 − 300| = 300; SRTT = 7/8 × 600 + 1/8 × 300 = 562.5
    expect(rtt.timeoutMs).toBe(Math.round(562.5 + 4 * 300))
    at(4000, () => rtt.sent(prepare('t5', 'a')))
    at(60_000, () => rtt.received(vote('t5', 'a')))
    expect(rtt.timeoutMs).toBe(5000) // capped
    // A request whose transaction ended unanswered stops being timed at once…
    const ended = new RoundTrips(COORDINATOR_ROUND_TRIPS, clock, 5000)
    at(0, () => ended.sent(prepare('lost', 'a')))
    ended.finished('lost')
    at(10, () => ended.sent(prepare('next', 'a')))
    at(110, () => ended.received(vote('next', 'a')))
    expect(ended.timeoutMs).toBe(100 + 4 * 50)
    // …and one never answered, after the cap.
    const stale = new RoundTrips(COORDINATOR_ROUND_TRIPS, clock, 5000)
    at(0, () => stale.sent(prepare('lost', 'a')))
    at(5001, () => stale.sent(prepare('next', 'a')))
    at(5101, () => stale.received(vote('next', 'a')))
    expect(stale.timeoutMs).toBe(100 + 4 * 50)
    // A request no answer follows is not timed.
    const confirmations = new RoundTrips(COORDINATOR_ROUND_TRIPS, clock, 5000, () => false)
    at(0, () => confirmations.sent(prepare('t', 'a')))
    at(100, () => confirmations.received(vote('t', 'a')))
    expect(confirmations.timeoutMs).toBe(0)
  })

  it('once a round trip is measured, a slow network gets no retransmission', async () => {
    const clock = new ManualClock()
    const net = new HeldNetwork()
    const resource = { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} }
    const timings = { clock, retransmitIntervalMs: 100, random: () => 0.99 }
    const coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log: new MemoryLog(),
      prepareTimeoutMs: 1_000_000,
      ...timings,
    })
    const participants = ['a', 'b'].map(
      (id) => new Participant({ id, transport: net.connect(id), log: new MemoryLog(), resource, ...timings }),
    )
    open.push(coordinator, ...participants)
    await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
    /** Runs one transaction on a network that delivers once every 1,000 ms; returns the prepares sent. */
    const slowTransaction = async (txId: string) => {
      const before = coordinator.stats().messagesSent
      let done = false
      const outcome = coordinator.commit({ txId, participants: { a: 1, b: 2 } }).finally(() => {
        done = true
      })
      for (let step = 1; !done || coordinator.stats().inFlight > 0; step++) {
        if (step > 2000) throw new Error(`${txId} did not finish`)
        await settle()
        clock.advanceTo(clock.time + 10)
        if (step % 100 === 0) net.flush()
      }
      expect((await outcome).decision).toBe('commit')
      const after = coordinator.stats().messagesSent
      return { prepares: after.prepare - before.prepare, commits: after.commit - before.commit }
    }
    // First contact: the probe round trip, then the bound prepares; nothing measured yet, so the
    // 100 ms backoff resends the prepares while they wait for the network.
    const first = await slowTransaction('t1')
    expect(first.prepares).toBeGreaterThan(4)
    // Measured now (about 1,000 ms): every later transaction sends each message once.
    for (const txId of ['t2', 't3', 't4']) {
      expect(await slowTransaction(txId)).toEqual({ prepares: 2, commits: 2 })
    }
  })
})
