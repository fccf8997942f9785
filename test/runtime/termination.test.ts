import { describe, expect, it } from 'vitest'
import type { Decision } from '../../src/index.js'
import { Cluster } from './cluster.js'

/** Participants ask peers 300 ms after the coordinator goes silent (long enough for the test to see them in doubt first). */
const COOPERATIVE = { participant: { cooperativeTerminationAfterMs: 300 } }

/** Collects who told each participant the outcome. */
function decidedBy(cluster: Cluster): Map<string, { decision: Decision; from: string }> {
  const seen = new Map<string, { decision: Decision; from: string }>()
  for (const id of cluster.participantIds) {
    cluster
      .participant(id)
      .on('decided', (event) => seen.set(id, { decision: event.decision, from: event.from }))
  }
  return seen
}

describe('cooperative termination and the operator surface', () => {
  it('in-doubt participants abort through a peer that is still preparing when the coordinator stops', async () => {
    const cluster = new Cluster(['a', 'b', 'c'], COOPERATIVE)
    let release: (vote: 'yes') => void = () => {}
    cluster.resource('c').vote = () => new Promise((resolve) => (release = resolve))
    await cluster.start()
    const seen = decidedBy(cluster)
    void cluster.coordinator.commit({ participants: { a: 1, b: 1, c: 1 }, txId: 't' }).catch(() => {})
    await expect
      .poll(() => cluster.participant('a').inDoubt().length + cluster.participant('b').inDoubt().length)
      .toBe(2)
    await cluster.coordinator.close()
    await expect
      .poll(() => [cluster.resource('a').applied.get('t'), cluster.resource('b').applied.get('t')])
      .toEqual(['abort', 'abort'])
    // c aborted unilaterally; a and b learned it from c, or one of them from the other.
    expect(seen.get('c')).toEqual({ decision: 'abort', from: 'c' })
    expect([seen.get('a')?.from, seen.get('b')?.from]).toContain('c')
    expect(['b', 'c']).toContain(seen.get('a')?.from)
    release('yes') // the late prepare result is overruled: c aborted durably before answering
    await expect.poll(() => cluster.resource('c').applied.get('t')).toBe('abort')
    expect(cluster.participantLog('c').records).toContainEqual({
      type: 'outcome',
      txId: 't',
      decision: 'abort',
    })
    await cluster.close()
  })

  it('a peer that never received the prepare aborts unilaterally, answers abort, and votes no if the prepare arrives later', async () => {
    const cluster = new Cluster(['a', 'b'], COOPERATIVE)
    await cluster.start()
    cluster.net.block('coord', 'b')
    void cluster.coordinator.commit({ participants: { a: 1, b: 1 }, txId: 't' }).catch(() => {})
    await expect.poll(() => cluster.participant('a').inDoubt().length).toBe(1)
    // Hold the coordinator's messages back (as if it were down) but keep it alive to see b's later vote.
    cluster.net.block('coord', 'a')
    await expect.poll(() => cluster.resource('a').applied.get('t')).toBe('abort')
    expect(cluster.resource('b').prepared).toEqual([])
    const votes: string[] = []
    cluster.participant('b').on('voted', (event) => votes.push(event.vote))
    cluster.net.heal() // the coordinator's retransmitted prepare now reaches b
    await expect.poll(() => votes).toContain('no')
    expect(cluster.resource('b').prepared).toEqual([])
    await cluster.close()
  })

  it('in-doubt participants learn commit from a peer that committed while the coordinator is down', async () => {
    const cluster = new Cluster(['a', 'b', 'c'], COOPERATIVE)
    await cluster.start()
    const seen = decidedBy(cluster)
    cluster.coordinator.once('decided', () => {
      cluster.net.block('coord', 'b')
      cluster.net.block('coord', 'c')
    })
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 1, c: 1 }, txId: 't' })
    expect(outcome.decision).toBe('commit')
    await expect.poll(() => cluster.resource('a').applied.get('t')).toBe('commit')
    await cluster.coordinator.close()
    await expect
      .poll(() => [cluster.resource('b').applied.get('t'), cluster.resource('c').applied.get('t')])
      .toEqual(['commit', 'commit'])
    expect(seen.get('b')).toEqual({ decision: 'commit', from: 'a' })
    expect(seen.get('c')).toEqual({ decision: 'commit', from: 'a' })
    await cluster.close()
  })

  it('stays blocked when every participant voted yes and the coordinator is down, and lists the in-doubt transactions', async () => {
    const cluster = new Cluster(['a', 'b'], COOPERATIVE)
    await cluster.start()
    cluster.coordinator.once('decided', () => {
      cluster.net.block('coord', 'a')
      cluster.net.block('coord', 'b')
    })
    await cluster.coordinator.commit({ participants: { a: 1, b: 1 }, txId: 't' })
    await cluster.coordinator.close()
    await new Promise((resolve) => setTimeout(resolve, 700)) // well past cooperativeTerminationAfterMs
    for (const id of ['a', 'b']) {
      const [entry] = cluster.participant(id).inDoubt()
      expect(entry).toMatchObject({ txId: 't', coordinator: 'coord', participants: ['a', 'b'] })
      expect(entry?.ageMs).toBeGreaterThan(0)
      expect(cluster.participant(id).stats().messagesSent['decision-request']).toBeGreaterThan(2)
      expect(cluster.resource(id).applied.has('t')).toBe(false)
    }
    await cluster.close()
  })

  it('a heuristic decision by hand is durable, applied, and reported as a mismatch when the coordinator committed', async () => {
    const cluster = new Cluster(['a', 'b'], COOPERATIVE)
    await cluster.start()
    cluster.coordinator.once('decided', () => {
      cluster.net.block('coord', 'a')
      cluster.net.block('coord', 'b')
    })
    await cluster.coordinator.commit({ participants: { a: 1, b: 1 }, txId: 't' })
    await cluster.coordinator.close()

    const participantMismatches: unknown[] = []
    cluster.participant('a').on('heuristic-mismatch', (event) => participantMismatches.push(event))
    await cluster
      .participant('a')
      .resolveManually('t', 'abort', { reason: 'coordinator lost; ticket OPS-42' })
    expect(cluster.participantLog('a').records).toContainEqual({
      type: 'outcome',
      txId: 't',
      decision: 'abort',
      heuristic: 'coordinator lost; ticket OPS-42',
    })
    await expect.poll(() => cluster.resource('a').applied.get('t')).toBe('abort')
    await expect(
      cluster.participant('a').resolveManually('t', 'commit', { reason: 'again' }),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    })

    cluster.net.heal()
    const coordinator = await cluster.restartCoordinator()
    const coordinatorMismatches: unknown[] = []
    coordinator.on('heuristic-mismatch', (event) => coordinatorMismatches.push(event))
    await coordinator.completion('t')
    expect(coordinatorMismatches).toEqual([
      { type: 'heuristic-mismatch', txId: 't', participant: 'a', decision: 'commit', heuristic: 'abort' },
    ])
    expect(coordinator.status('t')).toEqual({
      state: 'finished',
      decision: 'commit',
      heuristicMismatches: ['a'],
    })
    expect(participantMismatches).toEqual([
      { type: 'heuristic-mismatch', txId: 't', decision: 'commit', heuristic: 'abort' },
    ])
    expect(cluster.resource('b').applied.get('t')).toBe('commit')
    await cluster.close()
  })

  it('a heuristic decision that matches the real one is confirmed quietly and its records are finished', async () => {
    const cluster = new Cluster(['a', 'b'], COOPERATIVE)
    await cluster.start()
    cluster.coordinator.once('decided', () => cluster.net.block('coord', 'a'))
    await cluster.coordinator.commit({ participants: { a: 1, b: 1 }, txId: 't' })
    const mismatches: unknown[] = []
    cluster.participant('a').on('heuristic-mismatch', (event) => mismatches.push(event))
    await cluster.participant('a').resolveManually('t', 'commit', { reason: 'checked by hand' })
    cluster.net.heal()
    await cluster.coordinator.completion('t')
    expect(mismatches).toEqual([])
    expect(cluster.coordinator.status('t')).toEqual({ state: 'finished', decision: 'commit' })
    // Back to the incarnation record its start forced, alone.
    await expect
      .poll(() => cluster.participantLog('a').records)
      .toEqual([{ type: 'incarnation', txId: '~inc:1', n: 1, node: 'a', role: 'participant' }])
    await cluster.close()
  })

  it('a restarted participant refuses to answer for transactions it does not know: it may have finished and forgotten them', async () => {
    const cluster = new Cluster(['a', 'reader'], COOPERATIVE)
    cluster.resource('reader').vote = 'read-only'
    await cluster.start()
    await cluster.coordinator.commit({ participants: { a: 1, reader: 1 } })
    await cluster.crashParticipant('reader')
    const reader = await cluster.startParticipant('reader')
    const drops: string[] = []
    reader.on('message-dropped', (event) => drops.push(event.reason))
    cluster.net
      .connect('asker')
      .send({ v: 2, type: 'decision-request', txId: 'other', from: 'asker', to: 'reader', inc: 1 })
    await expect.poll(() => drops).toEqual(['cannot-answer'])
    expect(reader.stats().messagesSent.abort).toBe(0)
    await cluster.close()
  })
})
