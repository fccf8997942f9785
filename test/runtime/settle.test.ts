import { describe, expect, expectTypeOf, it } from 'vitest'
import type { CommitOutcome, DecidedOutcome } from '../../src/index.js'
import { Cluster } from './cluster.js'

describe('every commit() settles within prepareTimeoutMs or when its signal fires', () => {
  it('a one-phase commit() whose participant is silent resolves unknown at the prepare timeout; the transaction goes on and completion() reports its end', async () => {
    const cluster = new Cluster(['solo'], { coordinator: { prepareTimeoutMs: 30 } })
    await cluster.start()
    cluster.net.block('coord', 'solo') // the prepare (and every abort request) never arrives
    const outcome = await cluster.coordinator.commit({ participants: { solo: 1 }, txId: 't' })
    expect(outcome).toEqual({ txId: 't', decision: 'unknown', reason: 'prepare-timeout' })
    // Still asking the participant to abort, in the background.
    expect(cluster.coordinator.status('t')).toEqual({ state: 'preparing', votes: { solo: 'pending' } })
    expect(cluster.coordinator.pending()).toMatchObject([
      { txId: 't', state: 'preparing', missingVotes: ['solo'] },
    ])
    expect(cluster.coordinator.stats().inFlight).toBe(1)
    const completed = cluster.coordinator.completion('t')
    cluster.net.heal()
    await completed
    // Never bound to a life of solo (first contact), so solo refused every request: nothing prepared.
    expect(cluster.coordinator.status('t')).toEqual({ state: 'finished', decision: 'abort' })
    expect(cluster.coordinator.pending()).toEqual([])
    expect(cluster.resource('solo').calls).toEqual([])
    await cluster.close()
  })

  it('a one-phase commit() resolves unknown when its signal fires, and the participant’s answer then decides', async () => {
    const cluster = new Cluster(['solo'], { coordinator: { prepareTimeoutMs: 60_000 } })
    await cluster.start()
    await cluster.coordinator.commit({ participants: { solo: 0 }, txId: 'warm-up' })
    await cluster.settle()
    let releasePrepare: (vote: 'yes') => void = () => {}
    cluster.resource('solo').vote = () => new Promise((resolve) => (releasePrepare = resolve))
    const controller = new AbortController()
    const pending = cluster.coordinator.commit({
      participants: { solo: 1 },
      txId: 't',
      signal: controller.signal,
    })
    await expect.poll(() => cluster.resource('solo').prepared).toContain('t')
    controller.abort()
    await expect(pending).resolves.toEqual({ txId: 't', decision: 'unknown', reason: 'cancelled' })
    // The participant was already preparing: its vote (yes: it committed) is the outcome.
    releasePrepare('yes')
    await cluster.coordinator.completion('t')
    expect(cluster.coordinator.status('t')).toEqual({ state: 'finished', decision: 'commit' })
    await cluster.settle()
    expect(cluster.resource('solo').applied.get('t')).toBe('commit')
    await cluster.close()
  })

  it('a one-phase commit() whose participant answers in time resolves with its decision, not unknown', async () => {
    const cluster = new Cluster(['solo'], { coordinator: { prepareTimeoutMs: 60_000 } })
    await cluster.start()
    const controller = new AbortController()
    const outcome = await cluster.coordinator.commit({
      participants: { solo: 1 },
      txId: 't',
      signal: controller.signal,
    })
    controller.abort() // after the decision: changes nothing
    expect(outcome).toEqual({ txId: 't', decision: 'commit' })
    await cluster.coordinator.completion('t')
    expect(cluster.coordinator.status('t')).toEqual({ state: 'finished', decision: 'commit' })
    await cluster.close()
  })

  it('a two-phase commit() never resolves unknown: a silent participant means abort at the prepare timeout', async () => {
    const cluster = new Cluster(['a', 'b'], { coordinator: { prepareTimeoutMs: 30 } })
    await cluster.start()
    cluster.net.block('coord', 'b')
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 }, txId: 't' })
    expectTypeOf(outcome).toEqualTypeOf<DecidedOutcome>()
    expect(outcome).toEqual({ txId: 't', decision: 'abort', reason: 'prepare-timeout' })
    expect(cluster.coordinator.pending()).toEqual([])
    cluster.net.heal()
    await cluster.close()
  })

  it('types the outcome as possibly unknown only when the participants are not known to be two or more', () => {
    type Commit = Cluster['coordinator']['commit']
    expectTypeOf<ReturnType<typeof commitTwo>>().resolves.toEqualTypeOf<DecidedOutcome>()
    expectTypeOf<ReturnType<typeof commitOne>>().resolves.toEqualTypeOf<CommitOutcome>()
    expectTypeOf<ReturnType<typeof commitAny>>().resolves.toEqualTypeOf<CommitOutcome>()
    function commitTwo(commit: Commit) {
      return commit({ participants: { a: 1, b: 2 } })
    }
    function commitOne(commit: Commit) {
      return commit({ participants: { a: 1 } })
    }
    function commitAny(commit: Commit, participants: Record<string, number>) {
      return commit({ participants })
    }
  })
})
