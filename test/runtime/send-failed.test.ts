import { afterEach, describe, expect, it } from 'vitest'
import {
  Coordinator,
  MemoryLog,
  MemoryNetwork,
  type Message,
  Participant,
  type SendFailedEvent,
  type Transport,
  TwopcError,
} from '../../src/index.js'
import { TcpTransport } from '../../src/node.js'
import { RecordingResource } from './cluster.js'

const secret = 'a-test-secret-of-enough-length'

describe('send errors surface as a send-failed event and a counter', () => {
  const open: { close(): Promise<void> }[] = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((node) => node.close()))
  })

  it('a two-phase prepare the TCP transport cannot address aborts the transaction at once and rejects commit() naming the participant', async () => {
    const aTransport = await TcpTransport.listen({ id: 'a', listen: '127.0.0.1:0', secret })
    // The coordinator's transport knows `a` but not `ghost`: a configuration error.
    const coordTransport = await TcpTransport.listen({
      id: 'coord',
      listen: '127.0.0.1:0',
      secret,
      peers: { a: aTransport.address },
    })
    aTransport.setPeer('coord', coordTransport.address)
    const resource = new RecordingResource()
    const participant = new Participant({ id: 'a', transport: aTransport, log: new MemoryLog(), resource })
    // A prepare timeout far beyond the test's: the abort must not wait for it.
    const coordinator = new Coordinator({
      id: 'coord',
      transport: coordTransport,
      log: new MemoryLog(),
      prepareTimeoutMs: 600_000,
    })
    open.push(coordinator, participant)
    await participant.start()
    await coordinator.start()
    const failures: SendFailedEvent[] = []
    coordinator.on('send-failed', (event) => failures.push(event))
    let refusals = 0
    participant.on('refused', () => (refusals += 1))

    const rejection = coordinator.commit({ participants: { a: 1, ghost: 2 }, txId: 't' })
    await expect(rejection).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message:
        'Transaction t aborted: the transport refused to send its prepare to "ghost": No address for node "ghost": add it to `peers`',
    })
    expect(coordinator.status('t')).toEqual({ state: 'finished', decision: 'abort' })
    // The prepare, then the abort that tells every participant (ghost included) of the decision.
    expect(failures).toMatchObject([
      { type: 'send-failed', thrown: true, message: { type: 'prepare', txId: 't', to: 'ghost' } },
      { type: 'send-failed', thrown: true, message: { type: 'abort', txId: 't', to: 'ghost' } },
    ])
    expect(failures[0]?.error).toMatchObject({ code: 'INVALID_MESSAGE' })
    expect(coordinator.stats().sendFailures).toBe(2)
    expect(coordinator.pending()).toEqual([])
    // First contact: `a` refused the probe, and nothing was prepared there.
    await expect.poll(() => refusals).toBe(1)
    expect(resource.calls).toEqual([])
  })

  it('reports a rejected send without touching the transaction: retransmission covers it', async () => {
    const net = new MemoryNetwork()
    const inner = net.connect('coord')
    let failNext = 1
    const transport: Transport = {
      onMessage: (handler) => inner.onMessage(handler),
      send(message: Message) {
        if (message.type === 'prepare' && failNext > 0) {
          failNext -= 1
          return Promise.reject(new Error('connection reset'))
        }
        return inner.send(message)
      },
    }
    const resource = new RecordingResource()
    const participant = new Participant({
      id: 'a',
      transport: net.connect('a'),
      log: new MemoryLog(),
      resource,
    })
    const coordinator = new Coordinator({
      id: 'coord',
      transport,
      log: new MemoryLog(),
      retransmitIntervalMs: 5,
      retransmitIntervalMsMax: 10,
    })
    open.push(coordinator, participant)
    await participant.start()
    await coordinator.start()
    const failures: SendFailedEvent[] = []
    coordinator.on('send-failed', (event) => failures.push(event))
    await expect(coordinator.commit({ participants: { a: 1 }, txId: 't' })).resolves.toEqual({
      txId: 't',
      decision: 'commit',
    })
    expect(failures).toEqual([
      {
        type: 'send-failed',
        thrown: false,
        message: expect.objectContaining({ type: 'prepare', txId: 't', to: 'a' }),
        error: new Error('connection reset'),
      },
    ])
    expect(coordinator.stats().sendFailures).toBe(1)
  })

  it('a one-phase prepare that cannot be sent is reported and left to the prepare timeout (the participant decides)', async () => {
    const net = new MemoryNetwork()
    const inner = net.connect('coord')
    const transport: Transport = {
      onMessage: (handler) => inner.onMessage(handler),
      send(message: Message) {
        throw new TwopcError('INVALID_MESSAGE', `No address for node ${JSON.stringify(message.to)}`)
      },
    }
    const coordinator = new Coordinator({
      id: 'coord',
      transport,
      log: new MemoryLog(),
      prepareTimeoutMs: 30,
    })
    open.push(coordinator)
    await coordinator.start()
    let failures = 0
    coordinator.on('send-failed', () => (failures += 1))
    await expect(coordinator.commit({ participants: { ghost: 1 }, txId: 't' })).resolves.toEqual({
      txId: 't',
      decision: 'unknown',
      reason: 'prepare-timeout',
    })
    expect(failures).toBeGreaterThanOrEqual(1)
    expect(coordinator.stats().sendFailures).toBe(failures)
  })

  it('a participant reports a send its transport rejected, and counts it', async () => {
    const net = new MemoryNetwork()
    const inner = net.connect('a')
    const transport: Transport = {
      onMessage: (handler) => inner.onMessage(handler),
      send: (message: Message) =>
        message.type === 'vote' ? Promise.reject(new Error('connection reset')) : inner.send(message),
    }
    const participant = new Participant({
      id: 'a',
      transport,
      log: new MemoryLog(),
      resource: new RecordingResource(),
    })
    const coordinator = new Coordinator({
      id: 'coord',
      transport: net.connect('coord'),
      log: new MemoryLog(),
      prepareTimeoutMs: 50,
    })
    open.push(coordinator, participant)
    await participant.start()
    await coordinator.start()
    const failures: SendFailedEvent[] = []
    participant.on('send-failed', (event) => failures.push(event))
    await coordinator.commit({ participants: { a: 1, b: 2 }, txId: 't' }) // aborts: no vote arrives
    // The participant's vote may not even have been sent by the time the coordinator gave up (a
    // slow machine): wait for the failure itself, not for the transaction.
    await expect.poll(() => failures.length).toBeGreaterThan(0)
    expect(failures[0]).toMatchObject({
      type: 'send-failed',
      thrown: false,
      message: { type: 'vote', txId: 't' },
    })
    expect(participant.stats().sendFailures).toBe(failures.length)
  })
})
