import { describe, expect, it } from 'vitest'
import type { Decision } from '../../src/index.js'
import { Cluster } from './cluster.js'

/** The incarnation record `node` forces when it starts its life number `n` (the cluster's coordinator is `coord`). */
const incarnation = (n: number, node: string) => ({
  type: 'incarnation',
  txId: `~inc:${n}`,
  n,
  node,
  role: node === 'coord' ? 'coordinator' : 'participant',
})

/**
 * Commits one transaction on a one-participant cluster and waits until the participant's log is
 * back to `records`: the coordinator then knows the participant's incarnation (learned from its
 * refusal of the first-contact probe), so the next prepare is bound to it and acted on at once.
 */
async function warmUp(cluster: Cluster, id: string, records: readonly unknown[]): Promise<void> {
  const outcome = await cluster.coordinator.commit({ participants: { [id]: 0 }, txId: 'warm-up' })
  expect(outcome.decision).toBe('commit')
  await cluster.settle()
  await expect.poll(() => cluster.participantLog(id).records).toEqual(records)
}

/** Every participant that applied an outcome applied the coordinator's decision (S1, S6). */
function expectAgreement(cluster: Cluster, decisions: ReadonlyMap<string, Decision>): void {
  for (const id of cluster.participantIds) {
    for (const [txId, applied] of cluster.resource(id).applied) {
      expect({ txId, participant: id, applied }).toEqual({
        txId,
        participant: id,
        applied: decisions.get(txId),
      })
    }
  }
}

describe('faults', () => {
  it('reaches agreement on 1,000 concurrent transactions over a lossy, duplicating, reordering network', async () => {
    const cluster = new Cluster(['a', 'b', 'c'], {
      network: { seed: 42, lossRate: 0.05, duplicateRate: 0.05, maxDelayMs: 3 },
      coordinator: { prepareTimeoutMs: 10_000 },
    })
    cluster.resource('c').vote = (tx) => ((tx.payload as number) % 10 === 0 ? 'no' : 'yes')
    await cluster.start()
    const outcomes = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        cluster.coordinator.commit({ participants: { a: i, b: i, c: i } }),
      ),
    )
    const decisions = new Map(outcomes.map((o) => [o.txId, o.decision]))
    expect([...decisions.values()].filter((d) => d === 'abort')).toHaveLength(100)
    await Promise.all(outcomes.map((o) => cluster.coordinator.completion(o.txId)))
    await cluster.settle()
    expectAgreement(cluster, decisions)
    for (const id of cluster.participantIds) {
      const committed = outcomes.filter((o) => o.decision === 'commit').map((o) => o.txId)
      for (const txId of committed) expect(cluster.resource(id).applied.get(txId)).toBe('commit')
    }
    expect(cluster.net.stats().lost).toBeGreaterThan(0)
    expect(cluster.net.stats().duplicated).toBeGreaterThan(0)
    await cluster.close()
  })

  it('an in-doubt participant restarted after its vote learns the outcome by decision-request', async () => {
    // The coordinator retransmits rarely, so only the participant's own question can resolve it.
    const cluster = new Cluster(['a', 'b'], {
      coordinator: { retransmitIntervalMs: 60_000, retransmitIntervalMsMax: 60_000 },
    })
    await cluster.start()
    cluster.participant('b').once('voted', () => cluster.net.block('coord', 'b'))
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome.decision).toBe('commit')
    expect(
      cluster
        .participant('b')
        .inDoubt()
        .map((e) => e.txId),
    ).toEqual([outcome.txId])
    await cluster.crashParticipant('b')
    cluster.net.heal()
    const restarted = await cluster.startParticipant('b')
    await cluster.coordinator.completion(outcome.txId)
    expect(restarted.stats().messagesSent['decision-request']).toBeGreaterThan(0)
    expect(cluster.resource('b').applied.get(outcome.txId)).toBe('commit')
    expect(restarted.inDoubt()).toEqual([])
    await cluster.close()
  })

  it('a coordinator restarted after its commit record resends commit until every participant acks', async () => {
    const cluster = new Cluster(['a', 'b'], {
      participant: { retransmitIntervalMs: 60_000, retransmitIntervalMsMax: 60_000 },
    })
    await cluster.start()
    cluster.coordinator.once('decided', () => {
      cluster.net.block('coord', 'a')
      cluster.net.block('coord', 'b')
    })
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    expect(outcome.decision).toBe('commit')
    const restarted = await cluster.restartCoordinator()
    expect(restarted.status(outcome.txId)).toEqual({ state: 'committing', pendingAcks: ['a', 'b'] })
    cluster.net.heal()
    await restarted.completion(outcome.txId)
    expect(restarted.stats().messagesSent.commit).toBeGreaterThanOrEqual(2)
    expect(cluster.resource('a').applied.get(outcome.txId)).toBe('commit')
    expect(cluster.resource('b').applied.get(outcome.txId)).toBe('commit')
    // The lazy end record lets the log forget the transaction entirely: only the incarnation record
    // of the restarted coordinator is left (its lazy end of the first one dropped that one).
    await expect.poll(() => cluster.coordinatorLog.records).toEqual([incarnation(2, 'coord')])
    await cluster.close()
  })

  it('a coordinator restarted before deciding presumes abort, and in-doubt participants learn it', async () => {
    const cluster = new Cluster(['a', 'b'])
    let release: (vote: 'yes') => void = () => {}
    cluster.resource('b').vote = () => new Promise((resolve) => (release = resolve))
    await cluster.start()
    const pending = cluster.coordinator.commit({ participants: { a: 1, b: 2 }, txId: 'tx-presumed' })
    await expect.poll(() => cluster.participant('a').inDoubt().length).toBe(1)
    await cluster.restartCoordinator()
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' })
    release('yes')
    await cluster.settle()
    expect(cluster.resource('a').applied.get('tx-presumed')).toBe('abort')
    expect(cluster.resource('b').applied.get('tx-presumed')).toBe('abort')
    await cluster.close()
  })

  it('duplicated messages never make a participant prepare or apply twice', async () => {
    const cluster = new Cluster(['a', 'b'], { network: { seed: 3, duplicateRate: 1 } })
    await cluster.start()
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 } })
    await cluster.coordinator.completion(outcome.txId)
    await cluster.settle()
    for (const id of ['a', 'b']) {
      expect(cluster.resource(id).calls).toEqual([
        { op: 'prepare', txId: outcome.txId },
        { op: 'commit', txId: outcome.txId },
      ])
    }
    expect(cluster.coordinator.stats().messagesDropped).toBeGreaterThan(0)
    await cluster.close()
  })

  it('a one-phase participant whose vote is lost keeps its outcome across a restart until the coordinator confirms it', async () => {
    const cluster = new Cluster(['solo'], { coordinator: { prepareTimeoutMs: 60_000 } })
    await cluster.start()
    // A transaction first, so that the prepare of `t` is bound to solo's incarnation: on first
    // contact the coordinator would need solo's refusal of its probe, which the block would lose.
    await warmUp(cluster, 'solo', [incarnation(1, 'solo')])
    cluster.net.block('solo', 'coord')
    const pending = cluster.coordinator.commit({ participants: { solo: 1 }, txId: 't' })
    await expect.poll(() => cluster.resource('solo').applied.get('t')).toBe('commit')
    await cluster.crashParticipant('solo')
    // Unconfirmed, so nothing was forgotten: the prepared and outcome records are still there.
    expect(cluster.participantLog('solo').records.map((r) => r.type)).toEqual([
      'incarnation',
      'prepared',
      'outcome',
    ])
    cluster.net.heal()
    await cluster.startParticipant('solo')
    await expect(pending).resolves.toEqual({ txId: 't', decision: 'commit' })
    await cluster.settle()
    // Its second life's incarnation record alone (the lazy end of the first one dropped that one).
    await expect.poll(() => cluster.participantLog('solo').records).toEqual([incarnation(2, 'solo')])
    expect(cluster.resource('solo').calls.filter((c) => c.txId === 't')).toEqual([
      { op: 'prepare', txId: 't' },
      { op: 'commit', txId: 't' },
      // Re-applied by the restarted life (outcome without end), as resource commit must be idempotent.
      { op: 'commit', txId: 't' },
    ])
    await cluster.close()
  })

  it('a one-phase coordinator that times out asks its participant, whose vote decides', async () => {
    const cluster = new Cluster(['solo'], { coordinator: { prepareTimeoutMs: 30 } })
    await cluster.start()
    // A transaction first, so that the requests about `t` are bound to solo's incarnation.
    await warmUp(cluster, 'solo', [incarnation(1, 'solo')])
    const decided: string[] = []
    let refusals = 0
    cluster.participant('solo').on('decided', (event) => decided.push(`${event.txId}:${event.decision}`))
    cluster.participant('solo').on('refused', () => (refusals += 1))
    cluster.net.block('coord', 'solo') // the prepare never arrives
    const pending = cluster.coordinator.commit({ participants: { solo: 1 }, txId: 't' })
    await new Promise((resolve) => setTimeout(resolve, 60))
    cluster.net.heal() // now the abort request (and a late prepare) get through
    // commit() settled at the timeout: one-phase, the participant's answer decides.
    await expect(pending).resolves.toEqual({ txId: 't', decision: 'unknown', reason: 'prepare-timeout' })
    await cluster.coordinator.completion('t')
    expect(cluster.coordinator.status('t')).toEqual({ state: 'finished', decision: 'abort' })
    await cluster.settle()
    expect(cluster.resource('solo').applied.get('t')).not.toBe('commit')
    // Its vote decided: it aborted `t` itself, durably, and refused nothing.
    expect(decided).toContain('t:abort')
    expect(refusals).toBe(0)
    expect(cluster.participantLog('solo').records).toContainEqual({
      type: 'outcome',
      txId: 't',
      decision: 'abort',
    })
    await cluster.close()
  })

  it('a one-phase coordinator that times out before its first contact with the participant: the unbound abort request is refused, nothing is prepared', async () => {
    const cluster = new Cluster(['solo'], { coordinator: { prepareTimeoutMs: 30 } })
    cluster.net.block('coord', 'solo') // the probe never arrives
    await cluster.start()
    let refusals = 0
    cluster.participant('solo').on('refused', () => (refusals += 1))
    const pending = cluster.coordinator.commit({ participants: { solo: 1 }, txId: 't' })
    await new Promise((resolve) => setTimeout(resolve, 60))
    cluster.net.heal() // now the abort request (and a late probe) get through
    // commit() settled at the timeout: one-phase, the participant's answer decides.
    await expect(pending).resolves.toEqual({ txId: 't', decision: 'unknown', reason: 'prepare-timeout' })
    await cluster.coordinator.completion('t')
    expect(cluster.coordinator.status('t')).toEqual({ state: 'finished', decision: 'abort' })
    await cluster.settle()
    // Bound to no life of solo (inc 0), every request was refused: no resource call, no record.
    expect(refusals).toBeGreaterThanOrEqual(1)
    expect(cluster.resource('solo').calls).toEqual([])
    expect(cluster.participantLog('solo').records).toEqual([incarnation(1, 'solo')])
    await cluster.close()
  })
})
