import { describe, expect, it } from 'vitest'
import type { Decision } from '../../src/index.js'
import { Cluster } from './cluster.js'

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
    // The lazy end record lets the log forget the transaction entirely.
    await expect.poll(() => cluster.coordinatorLog.records).toEqual([])
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
    cluster.net.block('solo', 'coord')
    const pending = cluster.coordinator.commit({ participants: { solo: 1 }, txId: 't' })
    await expect.poll(() => cluster.resource('solo').applied.get('t')).toBe('commit')
    await cluster.crashParticipant('solo')
    // Unconfirmed, so nothing was forgotten: the prepared and outcome records are still there.
    expect(cluster.participantLog('solo').records.map((r) => r.type)).toEqual([
      'created',
      'prepared',
      'outcome',
    ])
    cluster.net.heal()
    await cluster.startParticipant('solo')
    await expect(pending).resolves.toEqual({ txId: 't', decision: 'commit' })
    await cluster.settle()
    await expect.poll(() => cluster.participantLog('solo').records.map((r) => r.type)).toEqual(['created'])
    await cluster.close()
  })

  it('a one-phase coordinator that times out asks its participant, whose vote decides', async () => {
    const cluster = new Cluster(['solo'], { coordinator: { prepareTimeoutMs: 30 } })
    cluster.net.block('coord', 'solo') // the prepare never arrives
    await cluster.start()
    const pending = cluster.coordinator.commit({ participants: { solo: 1 }, txId: 't' })
    await new Promise((resolve) => setTimeout(resolve, 60))
    cluster.net.heal() // now the abort request (and a late prepare) get through
    await expect(pending).resolves.toEqual({ txId: 't', decision: 'abort', reason: 'prepare-timeout' })
    await cluster.settle()
    expect(cluster.resource('solo').applied.get('t')).not.toBe('commit')
    await cluster.close()
  })
})
