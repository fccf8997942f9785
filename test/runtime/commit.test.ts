import { describe, expect, it } from 'vitest'
import { Cluster } from './cluster.js'

/** Timers that never fire during a fault-free run, so that message counts are exact. */
const QUIET = { retransmitIntervalMs: 10_000, retransmitIntervalMsMax: 10_000 }

/** The incarnation record `node` forces when it starts its life number `n` (the cluster's coordinator is `coord`). */
const incarnation = (n: number, node: string) => ({
  type: 'incarnation',
  txId: `~inc:${n}`,
  n,
  node,
  role: node === 'coord' ? 'coordinator' : 'participant',
})

/** Counts the refusals (`refused` events) of the cluster's participants. */
function countRefusals(cluster: Cluster): () => number {
  let refusals = 0
  for (const id of cluster.participantIds) cluster.participant(id).on('refused', () => (refusals += 1))
  return () => refusals
}

describe('a transaction over MemoryNetwork', () => {
  it('commits on every participant when all vote yes', async () => {
    const cluster = new Cluster(['a', 'b'])
    await cluster.start()
    const outcome = await cluster.coordinator.commit({ participants: { a: { debit: 5 }, b: { credit: 5 } } })
    expect(outcome.decision).toBe('commit')
    await cluster.coordinator.completion(outcome.txId)
    await cluster.settle()
    expect(cluster.resource('a').applied.get(outcome.txId)).toBe('commit')
    expect(cluster.resource('b').applied.get(outcome.txId)).toBe('commit')
    expect(cluster.coordinator.status(outcome.txId)).toEqual({ state: 'finished', decision: 'commit' })
    await cluster.close()
  })

  it.each([2, 3, 5])(
    'costs exactly 4N messages and 2N+1 forced appends with N = %i participants (after the first contact, which costs 2N more messages)',
    async (n) => {
      const ids = Array.from({ length: n }, (_, i) => `p${i}`)
      const cluster = new Cluster(ids, { coordinator: QUIET, participant: QUIET })
      // Each start forces exactly one record, the node's incarnation (the coordinator's epoch too).
      expect(cluster.coordinator.stats()).toMatchObject({ forcedAppends: 0, recordsAppended: 0 })
      await cluster.start()
      expect(cluster.coordinator.stats()).toMatchObject({ forcedAppends: 1, recordsAppended: 1 })
      for (const id of ids)
        expect(cluster.participant(id).stats()).toMatchObject({ forcedAppends: 1, recordsAppended: 1 })
      const refusals = countRefusals(cluster)
      const commitOne = async () => {
        const outcome = await cluster.coordinator.commit({
          participants: Object.fromEntries(ids.map((id) => [id, id])),
        })
        expect(outcome.decision).toBe('commit')
        await cluster.coordinator.completion(outcome.txId)
        await cluster.settle()
      }
      const cost = () => {
        const costs = ['coord', ...ids].map((id) => cluster.cost(id))
        const sent = (type: 'prepare' | 'vote' | 'commit' | 'ack' | 'abort' | 'decision-request') =>
          costs.reduce((sum, c) => sum + c.messagesSent[type], 0)
        return {
          prepare: sent('prepare'),
          vote: sent('vote'),
          commit: sent('commit'),
          ack: sent('ack'),
          abort: sent('abort'),
          decisionRequest: sent('decision-request'),
          forced: costs.reduce((sum, c) => sum + c.forcedAppends, 0),
          coordinatorForced: cluster.cost('coord').forcedAppends,
        }
      }

      // First contact: the coordinator does not know the participants' incarnations, so each gets
      // a probe (a prepare with inc 0), refuses it (a `no` vote flagged refused, no record) and
      // gets the prepare again bound to its incarnation: 2 more messages per participant.
      await commitOne()
      expect(cost()).toEqual({
        prepare: 2 * n,
        vote: 2 * n,
        commit: n,
        ack: n,
        abort: 0,
        decisionRequest: 0,
        forced: 2 * n + 1,
        coordinatorForced: 1,
      })
      expect(refusals()).toBe(n)

      // Steady state: 4N messages, 2N+1 forced appends, no refusal.
      cluster.markCosts()
      await commitOne()
      expect(cost()).toEqual({
        prepare: n,
        vote: n,
        commit: n,
        ack: n,
        abort: 0,
        decisionRequest: 0,
        forced: 2 * n + 1,
        coordinatorForced: 1,
      })
      expect(refusals()).toBe(n)
      await cluster.close()
    },
  )

  it('aborts when a participant votes no, with no coordinator record and no acks', async () => {
    const cluster = new Cluster(['a', 'b'])
    cluster.resource('b').vote = 'no'
    await cluster.start()
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome).toEqual({ txId: outcome.txId, decision: 'abort', reason: 'vote-no' })
    await cluster.settle()
    // Nothing but the incarnation record the coordinator forced when it started.
    expect(cluster.coordinatorLog.records).toEqual([incarnation(1, 'coord')])
    expect(cluster.cost('coord').recordsAppended).toBe(0)
    expect(cluster.coordinator.stats().recordsAppended).toBe(1)
    const acks = cluster.participantIds.reduce(
      (sum, id) => sum + cluster.participant(id).stats().messagesSent.ack,
      0,
    )
    expect(acks).toBe(0)
    expect(cluster.resource('b').applied.get(outcome.txId)).toBe('abort')
    await cluster.close()
  })

  it('treats a read-only participant as yes and gives it no phase 2: 2 messages and no records per transaction (4 on first contact)', async () => {
    const cluster = new Cluster(['a', 'reader'], { coordinator: QUIET, participant: QUIET })
    cluster.resource('reader').vote = 'read-only'
    await cluster.start()
    const traffic = () => {
      const cost = cluster.cost('reader')
      return {
        messages: cost.messages + cluster.participant('reader').stats().messagesReceived,
        records: cost.recordsAppended,
      }
    }
    const first = await cluster.coordinator.commit({ participants: { a: 1, reader: 2 } })
    await cluster.coordinator.completion(first.txId)
    await cluster.settle()
    // First contact: the probe and its refusal, then the prepare and the read-only vote.
    expect(traffic()).toEqual({ messages: 4, records: 0 })

    const second = await cluster.coordinator.commit({ participants: { a: 1, reader: 2 } })
    expect(second.decision).toBe('commit')
    await cluster.coordinator.completion(second.txId)
    await cluster.settle()
    expect(traffic()).toEqual({ messages: 6, records: 0 })

    const third = await cluster.coordinator.commit({ participants: { a: 1, reader: 2 } })
    expect(third.decision).toBe('commit')
    await cluster.coordinator.completion(third.txId)
    await cluster.settle()
    expect(traffic()).toEqual({ messages: 8, records: 0 })
    expect(cluster.resource('reader').applied.has(second.txId)).toBe(false)
    expect(cluster.resource('reader').applied.has(third.txId)).toBe(false)
    // Phase 2 went to `a` only, once per transaction.
    expect(cluster.coordinator.stats().messagesSent.commit).toBe(3)
    expect(cluster.participant('reader').stats().messagesSent.ack).toBe(0)
    await cluster.close()
  })

  it('commits in one phase with a single participant: 3 messages, 1 forced append, no coordinator record (after the first contact, which costs 2 more messages)', async () => {
    const cluster = new Cluster(['solo'], { coordinator: QUIET, participant: QUIET })
    await cluster.start()
    const refusals = countRefusals(cluster)
    const commitOne = async (
      expected: { prepare: number; vote: number; messages: number },
      refused: number,
    ) => {
      cluster.markCosts()
      const outcome = await cluster.coordinator.commit({ participants: { solo: { x: 1 } } })
      expect(outcome.decision).toBe('commit')
      await cluster.settle()
      const coordinator = cluster.cost('coord')
      const solo = cluster.cost('solo')
      expect(coordinator.recordsAppended).toBe(0)
      // prepare, the vote (which is the outcome), and the coordinator's confirmation of it.
      expect({ coordinator: coordinator.messagesSent, solo: solo.messagesSent }).toEqual({
        coordinator: {
          prepare: expected.prepare,
          vote: 0,
          commit: 1,
          abort: 0,
          ack: 0,
          'decision-request': 0,
        },
        solo: { prepare: 0, vote: expected.vote, commit: 0, abort: 0, ack: 0, 'decision-request': 0 },
      })
      expect(coordinator.messages + solo.messages).toBe(expected.messages)
      expect(coordinator.forcedAppends + solo.forcedAppends).toBe(1)
      expect(refusals()).toBe(refused)
      // Confirmed, so the participant may forget it: its log is back to its incarnation record alone.
      await expect.poll(() => cluster.participantLog('solo').records).toEqual([incarnation(1, 'solo')])
      expect(cluster.resource('solo').applied.get(outcome.txId)).toBe('commit')
    }
    // First contact: the probe (prepare(1pc, probe)) is refused, then the prepare bound to the
    // participant's incarnation: 2 more messages, no more forced appends.
    await commitOne({ prepare: 2, vote: 2, messages: 5 }, 1)
    await commitOne({ prepare: 1, vote: 1, messages: 3 }, 1)
    await cluster.close()
  })

  it('aborts with reason prepare-timeout when a participant never answers', async () => {
    const cluster = new Cluster(['a', 'silent'], { coordinator: { prepareTimeoutMs: 50 } })
    cluster.resource('silent').vote = () => new Promise(() => {})
    await cluster.start()
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, silent: 2 } })
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'prepare-timeout' })
    await expect.poll(() => cluster.resource('a').applied.get(outcome.txId)).toBe('abort')
    await cluster.close()
  })

  it('counts a resource that throws in prepare as a no vote', async () => {
    const cluster = new Cluster(['a', 'b'])
    cluster.resource('b').vote = () => {
      throw new Error('disk full')
    }
    await cluster.start()
    const errors: unknown[] = []
    cluster.participant('b').on('resource-error', (event) => errors.push(event.error))
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'vote-no' })
    expect(errors).toHaveLength(1)
    await cluster.close()
  })

  it('counts a resource whose prepare outlives the participant prepareTimeoutMs as a no vote', async () => {
    const cluster = new Cluster(['a', 'slow'], { participant: { prepareTimeoutMs: 20 } })
    cluster.resource('slow').vote = () => new Promise(() => {})
    await cluster.start()
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, slow: 2 } })
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'vote-no' })
    await cluster.close()
  })

  it('retries a failing commit until the resource succeeds', async () => {
    const cluster = new Cluster(['a', 'b'])
    cluster.resource('b').failPhaseTwo = 3
    await cluster.start()
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome.decision).toBe('commit')
    await expect.poll(() => cluster.resource('b').applied.get(outcome.txId), { timeout: 5000 }).toBe('commit')
    expect(cluster.resource('b').calls.filter((c) => c.op === 'commit')).toHaveLength(4)
    await cluster.close()
  })

  // Found by review (a database down for a while): every retry loop hung a listener on one shared
  // signal, and past ten Node printed a "possible memory leak" warning.
  it('retries many failing commits at once without a listener leak warning, and close() stops them all', async () => {
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('warning', onWarning)
    const cluster = new Cluster(['a', 'b'], { participant: { retransmitIntervalMs: 5 } })
    cluster.resource('b').failPhaseTwo = Number.POSITIVE_INFINITY
    await cluster.start()
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, () => cluster.coordinator.commit({ participants: { a: 1, b: 2 } })),
      )
      expect(outcomes.every((outcome) => outcome.decision === 'commit')).toBe(true)
      const failing = () => cluster.resource('b').calls.filter((c) => c.op === 'commit').length
      await expect.poll(failing).toBeGreaterThanOrEqual(60) // every loop retried
      await cluster.close()
      const stopped = failing()
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(failing()).toBe(stopped)
      await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
      expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning')
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('aborts with reason cancelled when the caller aborts the signal before the decision', async () => {
    const cluster = new Cluster(['a', 'b'])
    let release: (vote: 'yes') => void = () => {}
    cluster.resource('b').vote = () => new Promise((resolve) => (release = resolve))
    await cluster.start()
    const controller = new AbortController()
    const pending = cluster.coordinator.commit({ participants: { a: 1, b: 2 }, signal: controller.signal })
    await expect.poll(() => cluster.resource('b').prepared.length).toBe(1)
    controller.abort()
    const outcome = await pending
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'cancelled' })
    release('yes')
    await expect.poll(() => cluster.resource('b').applied.get(outcome.txId)).toBe('abort')
    await cluster.close()
  })

  it('returns a cancelled abort without contacting anyone when the signal is already aborted', async () => {
    const cluster = new Cluster(['a', 'b'])
    await cluster.start()
    const outcome = await cluster.coordinator.commit({
      participants: { a: 1, b: 2 },
      signal: AbortSignal.abort(),
    })
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'cancelled' })
    expect(cluster.coordinator.stats().messagesSent.prepare).toBe(0)
    await cluster.close()
  })
})
