import { afterEach, describe, expect, it } from 'vitest'
import { Coordinator, type Message, Participant, type TxId } from '../../src/index.js'
import { CompactingLog, CountingResource, Router, sleep } from './double-apply-kit.js'

/**
 * Issue 12, "double apply", through the public API only. Under protocol v1 a participant that
 * committed a transaction, compacted it out of its log and restarted prepared it again when a
 * delayed duplicate of its `prepare` arrived, voted yes, asked the coordinator (still waiting for
 * another participant's ack) and got `commit`: the work was committed twice. Protocol v2 binds
 * every prepare to one life of its participant, and the new life refuses the stale copy.
 */

const TIMINGS = { retransmitIntervalMs: 10, retransmitIntervalMsMax: 40 } as const
/** How long to let retransmissions run after the stale copy arrived: many decision-request rounds. */
const SETTLE_MS = 300

type Closable = { close(): Promise<void> }

describe('a delayed duplicate prepare reaching a restarted participant (issue 12: double apply)', () => {
  const open: Closable[] = []
  afterEach(async () => {
    for (const node of open.splice(0).reverse()) await node.close()
  })

  async function startCoordinator(router: Router): Promise<Coordinator> {
    const coordinator = new Coordinator({
      id: 'coord',
      transport: router.connect('coord'),
      log: new CompactingLog(),
      prepareTimeoutMs: 5000,
      ...TIMINGS,
    })
    open.push(coordinator)
    await coordinator.start()
    return coordinator
  }

  async function startParticipant(
    id: string,
    router: Router,
    log: CompactingLog,
    resource: CountingResource,
  ): Promise<Participant> {
    const participant = new Participant({ id, transport: router.connect(id), log, resource, ...TIMINGS })
    open.push(participant)
    await participant.start()
    return participant
  }

  /** The `refused` events a participant emits from now on. */
  function refusals(participant: Participant): unknown[] {
    const events: unknown[] = []
    participant.on('refused', (event) => events.push(event))
    return events
  }

  /** The transactions a participant votes on from now on. */
  function votes(participant: Participant): TxId[] {
    const voted: TxId[] = []
    participant.on('voted', (event) => voted.push(event.txId))
    return voted
  }

  const prepareOf = (txId: TxId, to: string) => (message: Message) =>
    message.type === 'prepare' && message.txId === txId && message.to === to

  /**
   * Restarts `participant` on the same log and resource (a new life), delivers the held copy of its
   * old prepare, and lets retransmissions run. Returns what the new life did about it.
   */
  async function restartAndDeliverTheCopy(
    router: Router,
    old: Participant,
    log: CompactingLog,
    resource: CountingResource,
    txId: TxId,
  ) {
    await old.close()
    const participant = await startParticipant(old.id, router, log, resource)
    const refused = refusals(participant)
    const voted = votes(participant)
    expect(router.release()).toBe(1)
    // v2: the new life refuses the copy. v1 (the bug): it prepares and commits the work again.
    await expect.poll(() => refused.length > 0 || resource.count(txId).commit > 1).toBe(true)
    await sleep(SETTLE_MS)
    return { participant, refused, voted }
  }

  it('two-phase: p2 committed, compacted and restarted; the stale prepare is refused and the work is committed once', async () => {
    const router = new Router()
    const coordinator = await startCoordinator(router)
    const r1 = new CountingResource()
    const r2 = new CountingResource()
    const log2 = new CompactingLog()
    await startParticipant('p1', router, new CompactingLog(), r1)
    const p2 = await startParticipant('p2', router, log2, r2)

    // Warm-up: the coordinator learns which life each participant is in, so that t's first prepare
    // to p2 is the one p2 acts on (not a first-contact probe, which any life refuses).
    const warmUp = await coordinator.commit({ txId: 'warm-up', participants: { p1: {}, p2: {} } })
    expect(warmUp.decision).toBe('commit')
    await coordinator.completion('warm-up')
    const firstLifeRefusals = refusals(p2)

    const held = router.duplicateFirst(prepareOf('t', 'p2'))
    // p1's acks are lost: the coordinator keeps t in `committing`, resending commit to p1.
    const unblockP1 = router.block((m) => m.type === 'ack' && m.from === 'p1' && m.txId === 't')
    const outcome = await coordinator.commit({
      txId: 't',
      participants: { p1: { credit: 100 }, p2: { credit: 100 } },
    })
    expect(outcome).toEqual({ txId: 't', decision: 'commit' })
    expect((await held).type).toBe('prepare')

    // p2 applied t, acked (only p1's ack is missing), wrote `end`, and its log compacted t away.
    await expect.poll(() => coordinator.status('t')).toEqual({ state: 'committing', pendingAcks: ['p1'] })
    await expect.poll(() => log2.holds('t')).toBe(false)
    expect(log2.forgotten).toContain('t')
    expect(r2.count('t')).toEqual({ prepare: 1, commit: 1, abort: 0 })
    expect(r2.balance).toBe(100)
    // The held copy is the prepare p2 acted on: its first life refused nothing of t.
    expect(firstLifeRefusals).toEqual([])

    const { refused, voted } = await restartAndDeliverTheCopy(router, p2, log2, r2, 't')

    // Exactly one apply: no second prepare, no second commit, and no money from nowhere.
    expect(r2.count('t')).toEqual({ prepare: 1, commit: 1, abort: 0 })
    expect(r2.balance).toBe(100)
    // The new life refused the copy: an event, no vote, no record.
    expect(refused).toEqual([{ type: 'refused', txId: 't', coordinator: 'coord' }])
    expect(voted).toEqual([])
    expect(log2.holds('t')).toBe(false)
    expect(coordinator.status('t')).toEqual({ state: 'committing', pendingAcks: ['p1'] })

    // p1's acks get through again: the transaction completes, applied once everywhere.
    unblockP1()
    await coordinator.completion('t')
    expect(coordinator.status('t')).toEqual({ state: 'finished', decision: 'commit' })
    expect(r1.count('t')).toEqual({ prepare: 1, commit: 1, abort: 0 })
    expect(r2.count('t')).toEqual({ prepare: 1, commit: 1, abort: 0 })
    expect(r2.balance).toBe(100)
  })

  it('one-phase: the single participant committed, compacted and restarted; the stale prepare is refused and the work is committed once', async () => {
    const router = new Router()
    const coordinator = await startCoordinator(router)
    const resource = new CountingResource()
    const log = new CompactingLog()
    const p = await startParticipant('p', router, log, resource)

    // Warm-up, as above: t's first prepare is then bound to p's life, not a probe.
    expect((await coordinator.commit({ txId: 'warm-up', participants: { p: {} } })).decision).toBe('commit')
    await coordinator.completion('warm-up')
    const firstLifeRefusals = refusals(p)

    const held = router.duplicateFirst(prepareOf('t', 'p'))
    const outcome = await coordinator.commit({ txId: 't', participants: { p: { credit: 100 } } })
    expect(outcome).toEqual({ txId: 't', decision: 'commit' })
    await coordinator.completion('t')
    const copy = await held
    expect(copy).toMatchObject({ type: 'prepare', onePhase: true })

    // The coordinator confirmed p's outcome; p wrote `end` and its log compacted t away.
    await expect.poll(() => log.holds('t')).toBe(false)
    expect(resource.count('t')).toEqual({ prepare: 1, commit: 1, abort: 0 })
    expect(resource.balance).toBe(100)
    expect(firstLifeRefusals).toEqual([])

    const { refused, voted } = await restartAndDeliverTheCopy(router, p, log, resource, 't')

    expect(resource.count('t')).toEqual({ prepare: 1, commit: 1, abort: 0 })
    expect(resource.balance).toBe(100)
    expect(refused).toEqual([{ type: 'refused', txId: 't', coordinator: 'coord' }])
    expect(voted).toEqual([])
    expect(log.holds('t')).toBe(false)
    expect(coordinator.status('t')).toEqual({ state: 'finished', decision: 'commit' })
  })
})
