/**
 * Issue 14: a resource that answers synchronously costs no deadline timer, promise race or retry
 * machinery — its answer is stepped at once; a promise still gets the deadline.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Clock,
  Coordinator,
  MemoryLog,
  MemoryNetwork,
  Participant,
  type Resource,
  type Vote,
} from '../../src/index.js'

const DEADLINE_MS = 4321
const open: { close(): Promise<void> }[] = []

afterEach(async () => {
  await Promise.all(open.splice(0).map((node) => node.close()))
})

/** The real clock, counting the timers armed for the participant's resource deadline. */
function countingClock(): { clock: Clock; deadlines: () => number } {
  let deadlines = 0
  const clock: Clock = {
    now: () => Date.now(),
    setTimeout: (callback, delayMs) => {
      if (delayMs === DEADLINE_MS) deadlines += 1
      return setTimeout(callback, delayMs)
    },
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  }
  return { clock, deadlines: () => deadlines }
}

async function commitThrough(resource: Resource): Promise<{ deadlines: number; decision: string }> {
  const net = new MemoryNetwork()
  const { clock, deadlines } = countingClock()
  const coordinator = new Coordinator({ id: 'coord', transport: net.connect('coord'), log: new MemoryLog() })
  const participants = ['a', 'b'].map(
    (id) =>
      new Participant({
        id,
        transport: net.connect(id),
        log: new MemoryLog(),
        resource,
        clock,
        resourcePrepareTimeoutMs: DEADLINE_MS,
      }),
  )
  open.push(coordinator, ...participants)
  await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
  const outcome = await coordinator.commit({ participants: { a: 1, b: 2 } })
  await coordinator.completion(outcome.txId)
  return { deadlines: deadlines(), decision: outcome.decision }
}

describe('resources that answer synchronously', () => {
  it('a synchronous vote and apply arm no deadline timer', async () => {
    const applied: string[] = []
    const result = await commitThrough({
      prepare: (): Vote => 'yes',
      commit: (tx) => {
        applied.push(tx.txId)
      },
      abort: () => {},
    })
    expect(result).toEqual({ deadlines: 0, decision: 'commit' })
    expect(applied).toHaveLength(2)
  })

  it('an asynchronous vote still gets its deadline, once per prepare', async () => {
    const result = await commitThrough({
      prepare: async (): Promise<Vote> => 'yes',
      commit: async () => {},
      abort: async () => {},
    })
    expect(result).toEqual({ deadlines: 2, decision: 'commit' })
  })

  it('a synchronous throw in commit is retried until it succeeds, as before', async () => {
    let failures = 1
    const applied: string[] = []
    const result = await commitThrough({
      prepare: (): Vote => 'yes',
      commit: (tx) => {
        if (failures > 0) {
          failures -= 1
          throw new Error('flaky')
        }
        applied.push(tx.txId)
      },
      abort: () => {},
    })
    expect(result.decision).toBe('commit')
    // Both participants applied it: the one whose first call threw, on its retry.
    await expect.poll(() => applied.length, { timeout: 5000 }).toBe(2)
  })
})
