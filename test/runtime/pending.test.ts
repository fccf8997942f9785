import { describe, expect, it } from 'vitest'
import { type Clock, systemClock } from '../../src/index.js'
import { Cluster } from './cluster.js'

/** The system clock's timers with a `now()` the test sets, so ages are exact. */
function steppedClock(): Clock & { at: number } {
  const clock = {
    at: 1_000,
    now: () => clock.at,
    setTimeout: systemClock.setTimeout,
    clearTimeout: systemClock.clearTimeout,
  }
  return clock
}

describe('coordinator.pending() lists unfinished transactions', () => {
  it('lists a transaction waiting for votes with the missing ones, then one waiting for acks, each with its age', async () => {
    const clock = steppedClock()
    const cluster = new Cluster(['a', 'b', 'c'], { coordinator: { clock, prepareTimeoutMs: 60_000 } })
    await cluster.start()
    expect(cluster.coordinator.pending()).toEqual([])
    let releaseB: (vote: 'yes') => void = () => {}
    cluster.resource('b').vote = () => new Promise((resolve) => (releaseB = resolve))
    // c votes, then never hears the commit (so never acks).
    cluster.resource('c').vote = () => {
      cluster.net.block('coord', 'c')
      return 'yes'
    }
    clock.at = 2_000
    const outcome = cluster.coordinator.commit({ participants: { a: 1, b: 2, c: 3 }, txId: 't' })
    await expect.poll(() => cluster.resource('b').prepared).toContain('t')
    await expect.poll(() => cluster.coordinator.status('t')).toMatchObject({ votes: { a: 'yes', c: 'yes' } })
    clock.at = 2_500
    expect(cluster.coordinator.pending()).toEqual([
      { txId: 't', state: 'preparing', missingVotes: ['b'], since: 2_000, ageMs: 500 },
    ])
    releaseB('yes')
    await expect(outcome).resolves.toEqual({ txId: 't', decision: 'commit' })
    await expect
      .poll(() => cluster.coordinator.status('t'))
      .toEqual({ state: 'committing', pendingAcks: ['c'] })
    clock.at = 9_000
    expect(cluster.coordinator.pending()).toEqual([
      { txId: 't', state: 'committing', pendingAcks: ['c'], since: 2_000, ageMs: 7_000 },
    ])
    cluster.net.heal()
    await cluster.coordinator.completion('t')
    expect(cluster.coordinator.pending()).toEqual([])
    await cluster.close()
  })

  it('lists a commit resumed from the log after a restart, aged from the restart, oldest first', async () => {
    const clock = steppedClock()
    const cluster = new Cluster(['a', 'b'], { coordinator: { clock } })
    await cluster.start()
    // b votes, then never hears the commit (so never acks).
    cluster.resource('b').vote = () => {
      cluster.net.block('coord', 'b')
      return 'yes'
    }
    await expect(
      cluster.coordinator.commit({ participants: { a: 1, b: 2 }, txId: 'first' }),
    ).resolves.toEqual({ txId: 'first', decision: 'commit' })
    clock.at = 5_000
    const coordinator = await cluster.restartCoordinator()
    // The restarted coordinator resends commit to both; a acks again, b never hears it.
    await expect.poll(() => coordinator.status('first')).toEqual({ state: 'committing', pendingAcks: ['b'] })
    cluster.resource('a').vote = () => new Promise(() => {}) // `second` waits for a's vote
    clock.at = 6_000
    void coordinator.commit({ participants: { a: 1, b: 2 }, txId: 'second' }).catch(() => {})
    clock.at = 6_250
    expect(coordinator.pending()).toEqual([
      { txId: 'first', state: 'committing', pendingAcks: ['b'], since: 5_000, ageMs: 1_250 },
      { txId: 'second', state: 'preparing', missingVotes: ['a', 'b'], since: 6_000, ageMs: 250 },
    ])
    await cluster.close()
  })
})
