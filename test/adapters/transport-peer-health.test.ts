import { createServer } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { HttpTransport } from '../../src/adapters/http-transport.js'
import { TcpTransport } from '../../src/adapters/tcp-transport.js'
import type { NetworkTransportEvents, NetworkTransportStats } from '../../src/adapters/transport-events.js'
import type { Message } from '../../src/core/messages.js'

const T0 = 1_700_000_000_000
const FAST = { retryDelayMs: 10, retryDelayMsMax: 50 } as const

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((transport) => transport.close()))
})

function commit(txId: string, from = 'a', to = 'b'): Message {
  return { v: 2, type: 'commit', txId, from, to }
}

/** A port nothing listens on (yet): bound by the OS, then released. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

type Events = { [K in keyof NetworkTransportEvents]: NetworkTransportEvents[K][0][] }

/** Everything `transport` reports about its peers. */
function recordHealth(transport: {
  on<K extends keyof NetworkTransportEvents>(
    event: K,
    listener: (...args: NetworkTransportEvents[K]) => void,
  ): unknown
}): Pick<Events, 'peer-unreachable' | 'peer-reachable' | 'authentication-refused'> {
  const events = { 'peer-unreachable': [], 'peer-reachable': [], 'authentication-refused': [] } as Pick<
    Events,
    'peer-unreachable' | 'peer-reachable' | 'authentication-refused'
  >
  transport.on('peer-unreachable', (event) => events['peer-unreachable'].push(event))
  transport.on('peer-reachable', (event) => events['peer-reachable'].push(event))
  transport.on('authentication-refused', (event) => events['authentication-refused'].push(event))
  return events
}

/** One network transport kind, as the tests below need it. */
interface Kind {
  readonly name: string
  /** Starts node `id` listening on `port` (0: any), knowing peer b at `bPort` when given. */
  start(
    id: 'a' | 'b',
    options: { port?: number; bPort?: number; secret?: string; clock?: { now(): number } },
  ): Promise<{
    transport: {
      send(message: Message): void
      onMessage(handler: (message: unknown) => void): void
      stats(): NetworkTransportStats
      close(): Promise<void>
    } & Parameters<typeof recordHealth>[0]
    port: number
  }>
}

function auth(secret: string | undefined) {
  return secret === undefined ? ({ authentication: 'none' } as const) : { secret }
}

const tcp: Kind = {
  name: 'TcpTransport',
  async start(id, { port = 0, bPort, secret, clock }) {
    const transport = await TcpTransport.listen({
      id,
      listen: `127.0.0.1:${port}`,
      ...(bPort === undefined ? {} : { peers: { b: `127.0.0.1:${bPort}` } }),
      ...auth(secret),
      ...(clock === undefined ? {} : { clock }),
      ...FAST,
    })
    open.push(transport)
    return { transport, port: Number(transport.address.split(':')[1]) }
  },
}

const http: Kind = {
  name: 'HttpTransport',
  async start(id, { port = 0, bPort, secret, clock }) {
    const transport = new HttpTransport({
      id,
      ...(bPort === undefined ? {} : { peers: { b: `http://127.0.0.1:${bPort}/` } }),
      ...auth(secret),
      ...(clock === undefined ? {} : { clock }),
      ...FAST,
    })
    open.push(transport)
    const url = await transport.listen(`127.0.0.1:${port}`)
    return { transport, port: Number(new URL(url).port) }
  },
}

describe.each([tcp, http])('$name peer health', (kind) => {
  it('lists each configured peer as not yet tried, then stamps the first success', async () => {
    const clock = { now: () => T0 }
    const b = await kind.start('b', {})
    const received: Message[] = []
    b.transport.onMessage((message) => received.push(message as Message))
    const { transport: a } = await kind.start('a', { bPort: b.port, clock })
    const events = recordHealth(a)
    expect(a.stats().peers).toEqual({
      b: { reachable: true, lastError: undefined, consecutiveFailures: 0, lastSuccessAt: undefined },
    })
    clock.now = () => T0 + 5
    a.send(commit('tx-1'))
    await vi.waitFor(() => expect(a.stats().peers.b?.lastSuccessAt).toBe(T0 + 5))
    expect(received.map((m) => m.txId)).toEqual(['tx-1'])
    expect(a.stats().peers).toEqual({
      b: { reachable: true, lastError: undefined, consecutiveFailures: 0, lastSuccessAt: T0 + 5 },
    })
    clock.now = () => T0 + 9
    a.send(commit('tx-2')) // a later send that reaches the peer is a success too
    await vi.waitFor(() => expect(received.map((m) => m.txId)).toEqual(['tx-1', 'tx-2']))
    await vi.waitFor(() => expect(a.stats().peers.b?.lastSuccessAt).toBe(T0 + 9))
    expect(events).toEqual({ 'peer-unreachable': [], 'peer-reachable': [], 'authentication-refused': [] })
  })

  it('reports a peer that cannot be reached once, counts every failed attempt, and reports it back', async () => {
    const clock = { now: () => T0 }
    const port = await freePort()
    const { transport: a } = await kind.start('a', { bPort: port, clock })
    const events = recordHealth(a)
    a.send(commit('tx-1'))
    await vi.waitFor(() => expect(a.stats().peers.b?.consecutiveFailures).toBeGreaterThanOrEqual(3))
    const down = a.stats().peers.b
    expect(down).toMatchObject({ reachable: false, lastSuccessAt: undefined })
    expect(down?.lastError).toMatch(/ECONNREFUSED|fetch failed/)
    expect(events['peer-unreachable']).toEqual([{ peer: 'b', error: expect.any(String) }])
    expect(events['peer-reachable']).toEqual([])

    clock.now = () => T0 + 7
    const b = await kind.start('b', { port })
    const received: Message[] = []
    b.transport.onMessage((message) => received.push(message as Message))
    await vi.waitFor(() => expect(received.map((m) => m.txId)).toEqual(['tx-1']))
    await vi.waitFor(() => expect(events['peer-reachable']).toHaveLength(1))
    const failures = events['peer-reachable'][0]?.failures ?? 0
    expect(failures).toBeGreaterThanOrEqual(3)
    expect(events['peer-reachable']).toEqual([{ peer: 'b', failures }])
    expect(events['peer-unreachable']).toHaveLength(1)
    expect(a.stats().peers.b).toEqual({
      reachable: true,
      lastError: down?.lastError,
      consecutiveFailures: 0,
      lastSuccessAt: T0 + 7,
    })
  })

  it('tells the sender when the peer refuses its authentication, and delivers nothing', async () => {
    const b = await kind.start('b', { secret: 'the-real-cluster-secret' })
    const received: Message[] = []
    b.transport.onMessage((message) => received.push(message as Message))
    const { transport: a } = await kind.start('a', { bPort: b.port, secret: 'a-wrong-cluster-secret' })
    const events = recordHealth(a)
    a.send(commit('tx-1'))
    await vi.waitFor(() => expect(events['authentication-refused']).toHaveLength(1))
    expect(events['authentication-refused']).toEqual([{ peer: 'b', reason: 'bad-signature' }])
    const lastError = kind === tcp ? 'refused: bad-signature' : 'refused: bad-signature (HTTP 401)'
    expect(events['peer-unreachable']).toEqual([{ peer: 'b', error: lastError }])
    expect(a.stats().peers.b).toEqual({
      reachable: false,
      lastError,
      consecutiveFailures: 1,
      lastSuccessAt: undefined,
    })
    expect(b.transport.stats().rejected['bad-signature']).toBe(1)
    expect(received).toEqual([])
  })
})
