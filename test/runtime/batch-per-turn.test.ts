/**
 * Issue 14, "a batch-per-turn node loop": the forced records of every input a node steps in one
 * turn of the event loop go to its log in one append, and the messages they allow leave together
 * once it is durable. The network here is held by the test: `flush()` hands every queued message
 * to its recipient in one synchronous call — one turn — so the counts are exact.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Coordinator, MemoryLog, Participant } from '../../src/index.js'
import { settle } from '../support/gated-cluster.js'
import { HeldNetwork } from '../support/held-network.js'

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((node) => node.close()))
})

/** A coordinator and participants `a` (on `logOfA`, if given) and `b` on a held network. */
async function cluster(logOfA: MemoryLog = new MemoryLog()) {
  const net = new HeldNetwork()
  const resource = { prepare: () => 'yes' as const, commit: () => {}, abort: () => {} }
  const coordinator = new Coordinator({ id: 'coord', transport: net.connect('coord'), log: new MemoryLog() })
  const participants = ['a', 'b'].map(
    (id) =>
      new Participant({
        id,
        transport: net.connect(id),
        log: id === 'a' ? logOfA : new MemoryLog(),
        resource,
      }),
  )
  open.push(coordinator, ...participants)
  await Promise.all([coordinator.start(), ...participants.map((participant) => participant.start())])
  /** Delivers until nothing is in flight. */
  const run = async () => {
    for (let rounds = 0; rounds < 20; rounds++) {
      await settle()
      if (net.flush() === 0) return
    }
    throw new Error('messages still in flight after 20 rounds')
  }
  return { coordinator, participants, run, net }
}

describe('batch per turn', () => {
  it('100 prepares delivered in one turn cost a participant one log append, and its 100 votes leave together', async () => {
    const { coordinator, participants, run } = await cluster()
    // First contact (probe, refusal, rebinding) is past after one transaction.
    const first = coordinator.commit({ participants: { a: 1, b: 2 } })
    await run()
    expect((await first).decision).toBe('commit')
    const before = participants.map((participant) => participant.stats())
    const coordinatorBefore = coordinator.stats()

    const outcomes = Array.from({ length: 100 }, (_, i) =>
      coordinator.commit({ participants: { a: i, b: i } }),
    )
    await run()
    for (const outcome of await Promise.all(outcomes)) expect(outcome.decision).toBe('commit')

    participants.forEach((participant, i) => {
      const now = participant.stats()
      const was = before[i] as typeof now
      // 100 prepared records (one turn of prepares) and 100 commit records (one turn of commits),
      // all forced: 200 forced writes in exactly 2 appends.
      expect(now.forcedAppends - was.forcedAppends).toBe(200)
      expect(now.logAppends - was.logAppends).toBe(2)
    })
    // The coordinator takes the 200 votes in one turn (100 commit decisions, forced, in one
    // append), then the 200 acks in one turn (100 lazy `end` records, waiting to ride along).
    const now = coordinator.stats()
    expect(now.forcedAppends - coordinatorBefore.forcedAppends).toBe(100)
    expect(now.logAppends - coordinatorBefore.logAppends).toBe(1)
    expect(now.messagesSent.commit - coordinatorBefore.messagesSent.commit).toBe(200)
  })

  it('no vote of a batch leaves before the batch is durable, and all leave once it is', async () => {
    let release: (() => void) | undefined
    /** A MemoryLog whose appends wait for the test once `hold` is set. */
    class HeldLog extends MemoryLog {
      hold = false
      override async append(records: Parameters<MemoryLog['append']>[0]): Promise<void> {
        if (this.hold) await new Promise<void>((resolve) => (release = resolve))
        return super.append(records)
      }
    }
    const log = new HeldLog()
    const { coordinator, participants, run, net } = await cluster(log)
    const first = coordinator.commit({ participants: { a: 1, b: 2 } })
    await run()
    await first
    const [a] = participants as [Participant]
    const before = a.stats()
    log.hold = true
    const outcomes = Array.from({ length: 10 }, (_, i) =>
      coordinator.commit({ participants: { a: i, b: i } }),
    )
    await settle()
    net.flush() // the 20 prepares, in one turn
    await settle()
    expect(a.stats().logAppends - before.logAppends).toBe(1)
    expect(a.stats().messagesSent.vote - before.messagesSent.vote).toBe(0)
    log.hold = false
    release?.()
    await settle()
    expect(a.stats().messagesSent.vote - before.messagesSent.vote).toBe(10)
    await run()
    for (const outcome of await Promise.all(outcomes)) expect(outcome.decision).toBe('commit')
  })
})
