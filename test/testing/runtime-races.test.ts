/**
 * fast-check scheduler tests of the runtime classes (`Coordinator`, `Participant`): every log
 * sync, message delivery and resource call is a task that `fc.scheduler()` releases in an order
 * it draws (and shrinks), so the async races between a step's append and the next message are
 * explored — for example a duplicate `prepare` arriving while the first `prepared` record is
 * still being written must not make the participant send `vote: yes` before it is durable.
 */
import { fc } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { type Message, PROTOCOL_VERSION } from '../../src/core/messages.js'
import type { LogRecord } from '../../src/core/records.js'
import type { Decision, NodeId } from '../../src/core/types.js'
import { Coordinator } from '../../src/runtime/coordinator.js'
import type { Clock, Transport } from '../../src/runtime/interfaces.js'
import { Participant } from '../../src/runtime/participant.js'
import { SimLog } from '../../src/testing/sim-log.js'
import { describeMessage } from '../../src/testing/trace.js'

const RUNS = Number(process.env.TWOPC_FC_RACE_RUNS ?? 150)

/** A clock whose timers never fire: these tests are about the order of I/O, not about time. */
const frozenClock: Clock = { now: () => 0, setTimeout: () => ({}), clearTimeout: () => {} }

/**
 * A {@link SimLog} whose syncs are scheduler tasks. A sync makes durable every record appended up
 * to the append that scheduled it (group commit), so appends resolve in order, as the contract requires.
 */
class ScheduledLog extends SimLog {
  /** @param lies - resolve `append` at once, before the records are durable (a broken log, for teeth) */
  constructor(
    private readonly s: fc.Scheduler,
    private readonly name: NodeId,
    lies = false,
  ) {
    super({ lies })
  }

  override append(records: readonly LogRecord[]): Promise<void> {
    const done = super.append(records)
    const index = this.appends
    const label = `${this.name} sync ${records.map((r) => `${r.type} ${r.txId}`).join(', ')}`
    this.s.schedule(Promise.resolve(), label).then(() => this.sync(index))
    return done
  }
}

/**
 * A network whose every delivery is a scheduler task, each message delivered `copies` times.
 * It checks S2 as messages leave: a `vote: yes`, `commit` or `ack` must find its record durable
 * in the sender's log at that moment.
 */
class ScheduledNetwork {
  readonly sent: string[] = []
  readonly violations: string[] = []
  private readonly handlers = new Map<NodeId, (message: unknown) => void>()
  private readonly logs = new Map<NodeId, ScheduledLog>()
  private readonly scripts = new Map<NodeId, (message: Message) => Message[]>()

  constructor(
    private readonly s: fc.Scheduler,
    private readonly copies: number,
  ) {}

  connect(id: NodeId, log: ScheduledLog): Transport {
    this.logs.set(id, log)
    return {
      send: (message) => this.send(message),
      onMessage: (handler) => {
        this.handlers.set(id, handler)
      },
    }
  }

  /** Plays node `id` with a script: each message delivered to it yields the messages it answers. */
  script(id: NodeId, answer: (message: Message) => Message[]): void {
    this.scripts.set(id, answer)
  }

  /** Throws with every S2 violation seen so far. */
  assertClean(): void {
    if (this.violations.length > 0) throw new Error(this.violations.join('\n'))
  }

  /** Puts a message on the wire as if `message.from` had sent it. */
  inject(message: Message): void {
    this.send(message)
  }

  private send(message: Message): void {
    this.sent.push(describeMessage(message))
    this.checkDurable(message)
    for (let i = 0; i < this.copies; i++) {
      this.s
        .schedule(Promise.resolve(), `deliver ${describeMessage(message)}${i > 0 ? ` (copy ${i + 1})` : ''}`)
        .then(() => this.deliver(message))
    }
  }

  private deliver(message: Message): void {
    const handler = this.handlers.get(message.to)
    if (handler !== undefined) return handler(JSON.parse(JSON.stringify(message)))
    for (const answer of this.scripts.get(message.to)?.(message) ?? []) this.send(answer)
  }

  private checkDurable(message: Message): void {
    const log = this.logs.get(message.from)
    if (log === undefined) return
    const { txId } = message
    const ok =
      message.type === 'vote' && message.vote === 'yes'
        ? log.has('prepared', txId) || log.has('outcome', txId, 'commit')
        : message.type === 'commit'
          ? log.has('commit', txId) || log.has('outcome', txId, 'commit')
          : message.type === 'ack'
            ? log.has('outcome', txId, 'commit')
            : true
    if (!ok) this.violations.push(`S2: ${describeMessage(message)} left before its record was durable`)
  }
}

const header = (txId: string, from: NodeId, to: NodeId) => ({ v: PROTOCOL_VERSION, txId, from, to }) as const

function participant(
  s: fc.Scheduler,
  net: ScheduledNetwork,
  id: NodeId,
  vote: 'yes' | 'no' = 'yes',
  lyingLog = false,
): { node: Participant; log: ScheduledLog; decisions: Decision[] } {
  const log = new ScheduledLog(s, id, lyingLog)
  const node = new Participant({
    id,
    transport: net.connect(id, log),
    log,
    clock: frozenClock,
    random: () => 0.5,
    resource: {
      prepare: () => s.schedule(Promise.resolve(vote), `${id} resource.prepare → ${vote}`),
      commit: () => s.schedule(Promise.resolve(), `${id} resource.commit`),
      abort: () => s.schedule(Promise.resolve(), `${id} resource.abort`),
    },
  })
  const decisions: Decision[] = []
  node.on('decided', (event) => decisions.push(event.decision))
  return { node, log, decisions }
}

/** The coordinator `coord` on `net`, with its scheduled log. */
function coordinatorOn(
  s: fc.Scheduler,
  net: ScheduledNetwork,
): { coordinator: Coordinator; log: ScheduledLog } {
  const log = new ScheduledLog(s, 'coord')
  const coordinator = new Coordinator({
    id: 'coord',
    transport: net.connect('coord', log),
    log,
    clock: frozenClock,
    random: () => 0.5,
  })
  return { coordinator, log }
}

/** The first test's property, over a log that may lie (teeth). */
function duplicatePrepareProperty(lyingLog: boolean) {
  return fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 3 }), async (s, copies) => {
    const net = new ScheduledNetwork(s, copies)
    const p1 = participant(s, net, 'p1', 'yes', lyingLog)
    await p1.node.start()
    net.inject({
      ...header('t1', 'coord', 'p1'),
      type: 'prepare',
      payload: null,
      participants: ['p1', 'p2'],
      onePhase: false,
      inc: 1,
      epoch: 1,
      seq: 1,
    })
    await s.waitIdle()
    // The commit races with the remaining copies of the prepare and with the outcome's sync.
    net.inject({ ...header('t1', 'coord', 'p1'), type: 'commit' })
    net.inject({ ...header('t1', 'coord', 'p1'), type: 'commit' })
    await s.waitIdle()
    net.assertClean()
    expect(net.sent).toContain('vote:yes p1→coord t1')
    expect(net.sent).toContain('ack p1→coord t1')
    expect(p1.decisions).toEqual(['commit'])
    await p1.node.close()
  })
}

describe('fast-check scheduler: races in the runtime classes', () => {
  it('teeth: a log that acknowledges appends before they are durable is caught', async () => {
    const result = await fc.check(duplicatePrepareProperty(true), { numRuns: 20 })
    expect(result.failed).toBe(true)
    expect(String(result.errorInstance)).toContain(
      'S2: vote:yes p1→coord t1 left before its record was durable',
    )
  })

  it('a duplicate prepare arriving while the prepared record is being written never sends vote yes early', async () => {
    await fc.assert(duplicatePrepareProperty(false), { numRuns: RUNS })
  })

  it('votes racing with the commit record never make the coordinator send commit before it is durable', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 3 }), async (s, copies) => {
        const net = new ScheduledNetwork(s, copies)
        const { coordinator, log } = coordinatorOn(s, net)
        for (const id of ['p1', 'p2']) {
          net.script(id, (message) =>
            message.type === 'prepare'
              ? [{ ...header(message.txId, id, 'coord'), type: 'vote', vote: 'yes', inc: 1 }]
              : message.type === 'commit'
                ? [{ ...header(message.txId, id, 'coord'), type: 'ack', inc: 1 }]
                : [],
          )
        }
        await coordinator.start()
        let durableWhenDecided: boolean | undefined
        const outcome = coordinator.commit({ txId: 't1', participants: { p1: 1, p2: 2 } }).then((result) => {
          durableWhenDecided = log.has('commit', 't1')
          return result
        })
        await s.waitIdle()
        net.assertClean()
        expect(await outcome).toEqual({ txId: 't1', decision: 'commit' })
        expect(durableWhenDecided).toBe(true)
        await coordinator.close()
      }),
      { numRuns: RUNS },
    )
  })

  it('a whole cluster of runtime classes agrees, whatever the order of syncs, deliveries and resource calls', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom<'yes' | 'no'>('yes', 'yes', 'no'),
        async (s, copies, secondVote) => {
          const net = new ScheduledNetwork(s, copies)
          const { coordinator } = coordinatorOn(s, net)
          const p1 = participant(s, net, 'p1')
          const p2 = participant(s, net, 'p2', secondVote)
          await Promise.all([coordinator.start(), p1.node.start(), p2.node.start()])
          const outcome = coordinator.commit({ txId: 't1', participants: { p1: 'a', p2: 'b' } })
          await s.waitIdle()
          const { decision } = await outcome
          net.assertClean()
          expect(decision).toBe(secondVote === 'yes' ? 'commit' : 'abort')
          // Every participant that decided holds the coordinator's decision (a no-voter decides nothing).
          for (const decisions of [p1.decisions, p2.decisions])
            expect(decisions.filter((d) => d !== decision)).toEqual([])
          if (decision === 'commit') expect([p1.decisions, p2.decisions]).toEqual([['commit'], ['commit']])
          await Promise.all([coordinator.close(), p1.node.close(), p2.node.close()])
        },
      ),
      { numRuns: RUNS },
    )
  })
})
