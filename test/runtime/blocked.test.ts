import { describe, expect, it } from 'vitest'
import { Coordinator, MemoryLog, MemoryNetwork, Participant, type TwopcError } from '../../src/index.js'
import { Cluster } from './cluster.js'

/** A participant `p` whose resource never answers `prepare`, with `options` for its deadline. */
function slowParticipant(options: { resourcePrepareTimeoutMs?: number; prepareTimeoutMs?: number }) {
  return new Participant({
    id: 'p',
    transport: new MemoryNetwork().connect('p'),
    log: new MemoryLog(),
    resource: { prepare: () => new Promise(() => {}), commit: () => {}, abort: () => {} },
    ...options,
  })
}

describe('the participant’s resource deadline: resourcePrepareTimeoutMs', () => {
  it('a resource whose prepare outlives resourcePrepareTimeoutMs votes no, and the error names the option', async () => {
    const net = new MemoryNetwork()
    const coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log: new MemoryLog(),
      prepareTimeoutMs: 60_000,
    })
    const slow = new Participant({
      id: 'slow',
      transport: net.connect('slow'),
      log: new MemoryLog(),
      resource: { prepare: () => new Promise(() => {}), commit: () => {}, abort: () => {} },
      resourcePrepareTimeoutMs: 20,
    })
    const errors: string[] = []
    slow.on('resource-error', (event) => errors.push((event.error as Error).message))
    await slow.start()
    await coordinator.start()
    // Two-phase (the one-phase path has its own answer): a second participant that always agrees.
    const other = new Participant({
      id: 'other',
      transport: net.connect('other'),
      log: new MemoryLog(),
      resource: { prepare: () => 'yes', commit: () => {}, abort: () => {} },
    })
    await other.start()
    const outcome = await coordinator.commit({ participants: { slow: 1, other: 2 } })
    expect(outcome).toMatchObject({ decision: 'abort', reason: 'vote-no' })
    expect(errors).toEqual(['resource.prepare took longer than resourcePrepareTimeoutMs (20)'])
    await Promise.all([coordinator.close(), slow.close(), other.close()])
  }, 20_000)

  it('is validated up front under its own name; the deprecated prepareTimeoutMs still works, but not both', () => {
    expect(() => slowParticipant({ resourcePrepareTimeoutMs: 0 })).toThrow(
      'Expected `resourcePrepareTimeoutMs` to be a positive integer of milliseconds, at most 2147483647, got 0',
    )
    expect(() => slowParticipant({ prepareTimeoutMs: -1 })).toThrow(
      'Expected `prepareTimeoutMs` to be a positive integer of milliseconds, at most 2147483647, got -1',
    )
    let error: TwopcError | undefined
    try {
      slowParticipant({ resourcePrepareTimeoutMs: 100, prepareTimeoutMs: 100 })
    } catch (thrown) {
      error = thrown as TwopcError
    }
    expect(error).toMatchObject({
      code: 'INVALID_OPTIONS',
      message:
        'Expected only one of `resourcePrepareTimeoutMs` and its deprecated alias `prepareTimeoutMs`, got both',
    })
    expect(slowParticipant({ resourcePrepareTimeoutMs: 100 })).toBeInstanceOf(Participant)
    expect(slowParticipant({ prepareTimeoutMs: 100 })).toBeInstanceOf(Participant)
  })
})

describe('the blocked event', () => {
  it('participants in doubt whose peers cannot tell the outcome each report blocked once, after in-doubt; the outcome still arrives later', async () => {
    const cluster = new Cluster(['a', 'b'], { participant: { cooperativeTerminationAfterMs: 50 } })
    await cluster.start()
    const events: string[] = []
    for (const id of ['a', 'b']) {
      const participant = cluster.participant(id)
      // The coordinator goes silent for a participant as soon as it has voted yes.
      participant.on('voted', (event) => {
        if (event.vote === 'yes') cluster.net.block('coord', id)
      })
      participant.on('in-doubt', (event) => events.push(`${id} in-doubt ${event.txId}`))
      participant.on('blocked', (event) => {
        expect(event).toMatchObject({ txId: 't', coordinator: 'coord', participants: ['a', 'b'] })
        expect(event.waitedMs).toBeGreaterThanOrEqual(50 + 5)
        events.push(`${id} blocked ${event.txId}`)
      })
    }
    const outcome = await cluster.coordinator.commit({ participants: { a: 1, b: 2 }, txId: 't' })
    expect(outcome.decision).toBe('commit')
    await expect
      .poll(() => events.filter((event) => event.includes('blocked')).sort())
      .toEqual(['a blocked t', 'b blocked t'])
    for (const id of ['a', 'b'])
      expect(events.filter((event) => event.startsWith(id))).toEqual([`${id} in-doubt t`, `${id} blocked t`])
    cluster.net.heal()
    await expect
      .poll(() => [cluster.resource('a').applied.get('t'), cluster.resource('b').applied.get('t')])
      .toEqual(['commit', 'commit'])
    expect(events).toHaveLength(4)
    await cluster.close()
  }, 20_000)
})
