import { connect, createServer, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { encodeFrames } from '../../src/adapters/frame-codec.js'
import { TcpTransport, type TcpTransportOptions } from '../../src/adapters/tcp-transport.js'
import type { InboundRejection, OutboundDrop } from '../../src/adapters/transport-events.js'
import { TwopcError } from '../../src/core/errors.js'
import type { Message } from '../../src/core/messages.js'
import { expectSealedDelivery, SAMPLE_PREPARE } from '../support/sealed-delivery.js'

const open: TcpTransport[] = []
let warn: MockInstance<typeof console.warn>

beforeEach(() => {
  warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((transport) => transport.close()))
  vi.restoreAllMocks()
})

async function listen(options: Partial<TcpTransportOptions> & { id: string }): Promise<TcpTransport> {
  const transport = await TcpTransport.listen({
    listen: '127.0.0.1:0',
    retryDelayMs: 10,
    retryDelayMsMax: 100,
    ...(options.secret === undefined && options.secrets === undefined ? { authentication: 'none' } : {}),
    ...options,
  })
  open.push(transport)
  return transport
}

/** Two unauthenticated endpoints that know each other; `b` records what it receives. */
async function pair(options: Partial<TcpTransportOptions> = {}) {
  const a = await listen({ id: 'a', ...options })
  const b = await listen({ id: 'b', ...options })
  a.setPeer('b', b.address)
  b.setPeer('a', a.address)
  const received: Message[] = []
  b.onMessage((message) => received.push(message as Message))
  const rejected: InboundRejection[] = []
  b.on('rejected', (rejection) => rejected.push(rejection))
  return { a, b, received, rejected }
}

function commit(txId: string, from = 'a', to = 'b'): Message {
  return { v: 2, type: 'commit', txId, from, to }
}

/** A free loopback port: bound, read, released. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Opens a raw connection to `transport`, writes `bytes`, and resolves once the server has closed it or `ms` passed. */
async function writeRaw(
  transport: TcpTransport,
  bytes: Uint8Array,
  ms = 100,
): Promise<{ closedByServer: boolean }> {
  const [host, port] = transport.address.split(':') as [string, string]
  const socket: Socket = connect({ host, port: Number(port) })
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(bytes)
  const closedByServer = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
    socket.resume()
  })
  socket.destroy()
  return { closedByServer }
}

/** A frame with this envelope (an object is JSON-encoded) and message (a Buffer is sent as is, anything else as JSON). */
function frame(envelope: object | string, message: unknown): Buffer {
  return encodeFrames([
    {
      envelope: typeof envelope === 'string' ? envelope : JSON.stringify(envelope),
      message: Buffer.isBuffer(message) ? message : Buffer.from(JSON.stringify(message)),
    },
  ])
}

describe('TcpTransport options', () => {
  it.each([
    [{ id: '' }, 'Expected `id` to be a non-empty string of printable characters, got ""'],
    [
      { listen: 'localhost' },
      'Expected `listen` to be "host:port" with a port from 0 to 65535, got "localhost"',
    ],
    [
      { peers: { b: '127.0.0.1:0' } },
      'Expected `peers.b` to be "host:port" with a port from 1 to 65535, got "127.0.0.1:0"',
    ],
    [{ maxFrameBytes: 10 }, 'Expected `maxFrameBytes` to be an integer from 4096 to 1073741824, got 10'],
    [{ maxQueuedMessages: 0 }, 'Expected `maxQueuedMessages` to be a positive integer, got 0'],
    [
      { authenticationTimeoutMs: 0 },
      'Expected `authenticationTimeoutMs` to be an integer from 1 to 600000, got 0',
    ],
    [
      { maxUnauthenticatedConnectionsPerAddress: 65_537 },
      'Expected `maxUnauthenticatedConnectionsPerAddress` to be an integer from 1 to 65536, got 65537',
    ],
    [
      { retryDelayMs: 500, retryDelayMsMax: 100 },
      'Expected `retryDelayMsMax` to be at least `retryDelayMs` (500), got 100',
    ],
    [{ secret: 'short' }, 'Expected `secret` to be a string of at least 16 characters, got "short"'],
    [
      { secrets: { c: 'a-long-enough-secret' }, peers: { b: '127.0.0.1:1' } },
      'Expected `secrets.b` to be a secret (or set `secret` for every peer), got undefined',
    ],
  ])('rejects %j with a message naming the option', async (options, message) => {
    const error = await TcpTransport.listen({ id: 'a', listen: '127.0.0.1:0', ...options }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(TwopcError)
    expect((error as TwopcError).code).toBe('INVALID_OPTIONS')
    expect((error as TwopcError).message).toBe(message)
  })

  it.each([
    [
      {},
      "Expected `secret` to be a string of at least 16 characters (set `secret` or `secrets`, or `authentication: 'none'` to accept messages from anyone), got undefined",
    ],
    [
      { secret: undefined },
      "Expected `secret` to be a string of at least 16 characters (set `secret` or `secrets`, or `authentication: 'none'` to accept messages from anyone), got undefined",
    ],
    [
      { secret: '' },
      'Expected `secret` to be a string of at least 16 characters (set `secret` or `secrets`, or `authentication: \'none\'` to accept messages from anyone), got ""',
    ],
    [
      { secret: undefined, secrets: { b: 'a-long-enough-secret' } },
      "Expected `secret` to be a string of at least 16 characters (set `secret` or `secrets`, or `authentication: 'none'` to accept messages from anyone), got undefined",
    ],
    [
      { secrets: {} },
      "Expected `secrets` to be an object with at least one secret (or set `secret`, or `authentication: 'none'` to accept messages from anyone), got an object",
    ],
    [
      { authentication: 'none', secret: 'a-long-enough-secret' },
      'Expected `secret` to be absent with `authentication: \'none\'`, got "a-long-enough-secret"',
    ],
    [{ authentication: 'open' }, "Expected `authentication` to be 'hmac' or 'none', got \"open\""],
  ] as const)('fails closed: %j refuses to start, naming the explicit way out', async (options, message) => {
    const error = await TcpTransport.listen({ id: 'a', listen: '127.0.0.1:0', ...(options as object) }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(TwopcError)
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS', message })
  })

  it("runs unauthenticated only with `authentication: 'none'`, and says nothing more about it", async () => {
    const a = await TcpTransport.listen({ id: 'a', listen: '127.0.0.1:0', authentication: 'none' })
    open.push(a)
    expect(warn).not.toHaveBeenCalled()
  })

  it('rejects with LISTEN_FAILED, naming the address and the cause, when the address is taken', async () => {
    const a = await listen({ id: 'a' })
    const error = await TcpTransport.listen({ id: 'b', listen: a.address, authentication: 'none' }).catch(
      (e) => e,
    )
    expect(error).toBeInstanceOf(TwopcError)
    expect(error).toMatchObject({
      code: 'LISTEN_FAILED',
      message: expect.stringMatching(new RegExp(`^Could not listen on ${a.address}: .*EADDRINUSE`)),
      cause: expect.objectContaining({ code: 'EADDRINUSE' }),
    })
  })
})

describe('TcpTransport sending', () => {
  it('coalesces every message sent in one event-loop turn into one socket write', async () => {
    const { a, received } = await pair()
    a.send(commit('warm-up'))
    await vi.waitFor(() => expect(received).toHaveLength(1))
    const before = a.stats()
    for (let i = 0; i < 1000; i++) a.send(commit(`tx-${i}`))
    await vi.waitFor(() => expect(received).toHaveLength(1001))
    const after = a.stats()
    expect(after.messagesSent - before.messagesSent).toBe(1000)
    expect(after.writes - before.writes).toBe(1)
  })

  it('sends what the microtasks of a turn send in the same write (the runtime sends from a microtask)', async () => {
    const { a, received } = await pair()
    a.send(commit('warm-up'))
    await vi.waitFor(() => expect(received).toHaveLength(1))
    const before = a.stats()
    a.send(commit('tx-sync'))
    // A chain of microtasks, as a commit() caller awaiting its decision and starting the next one.
    void Promise.resolve()
      .then(() => a.send(commit('tx-microtask-1')))
      .then(() => a.send(commit('tx-microtask-2')))
    await vi.waitFor(() => expect(received).toHaveLength(4))
    const after = a.stats()
    expect(after.messagesSent - before.messagesSent).toBe(3)
    expect(after.writes - before.writes).toBe(1)
  })

  it('throws for a peer without an address, a message over the limit, and after close()', async () => {
    const { a } = await pair({ maxFrameBytes: 4096 })
    expect(() => a.send(commit('tx', 'a', 'nobody'))).toThrow(
      /No address for node "nobody": add it to `peers`/,
    )
    const big: Message = {
      ...commit('tx'),
      type: 'prepare',
      payload: 'x'.repeat(4096),
      participants: ['b'],
      onePhase: false,
      inc: 1,
      epoch: 1,
      seq: 1,
    }
    expect(() => a.send(big)).toThrow(/exceeds this transport's limit of 2047/)
    await a.close()
    expect(() => a.send(commit('tx'))).toThrow(expect.objectContaining({ code: 'CLOSED' }))
  })

  it('keeps only the newest messages for a peer that is down, counts the rest and delivers them once it is up', async () => {
    const port = await freePort()
    const a = await listen({ id: 'a', peers: { b: `127.0.0.1:${port}` }, maxQueuedMessages: 10 })
    const drops: OutboundDrop[] = []
    a.on('dropped', (drop) => drops.push(drop))
    for (let i = 0; i < 25; i++) a.send(commit(`tx-${i}`))
    expect(a.stats().dropped['queue-full']).toBe(15)
    expect(drops.reduce((sum, drop) => sum + drop.count, 0)).toBe(15)
    expect(drops[0]).toMatchObject({ reason: 'queue-full', to: 'b' })
    await new Promise((resolve) => setTimeout(resolve, 50)) // a few failed connection attempts
    const b = await listen({ id: 'b', listen: `127.0.0.1:${port}` })
    const received: string[] = []
    b.onMessage((message) => received.push((message as Message).txId))
    await vi.waitFor(() => expect(received).toHaveLength(10), { timeout: 5000 })
    expect(received).toEqual(Array.from({ length: 10 }, (_, i) => `tx-${i + 15}`))
  })

  it('holds frames in its bounded queue while a peer stops reading, dropping the oldest', async () => {
    const stalled = createServer((socket) => socket.pause()) // accepts, never reads
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve))
    const port = (stalled.address() as { port: number }).port
    const a = await listen({ id: 'a', peers: { b: `127.0.0.1:${port}` }, maxQueuedMessages: 20 })
    const payload = 'x'.repeat(64 * 1024)
    const big = (i: number): Message => ({
      ...commit(`tx-${i}`),
      type: 'prepare',
      payload,
      participants: ['b'],
      onePhase: false,
      inc: 1,
      epoch: 1,
      seq: 1,
    })
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 10; i++) a.send(big(round * 10 + i))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const { messagesSent, dropped } = a.stats()
    expect(messagesSent + dropped['queue-full']).toBeLessThanOrEqual(400)
    expect(dropped['queue-full']).toBeGreaterThan(0) // the socket pushed back, and the queue kept its bound
    expect(400 - messagesSent - dropped['queue-full']).toBeLessThanOrEqual(20)
    await a.close()
    stalled.close()
  })

  it('bounds the queue by bytes too', async () => {
    const port = await freePort()
    const a = await listen({ id: 'a', peers: { b: `127.0.0.1:${port}` }, maxQueuedBytes: 1000 })
    for (let i = 0; i < 100; i++) a.send(commit(`tx-${i}`)) // about 60 bytes each
    expect(a.stats().dropped['queue-full']).toBeGreaterThan(80)
  })

  it('close() drops what is queued for an unreachable peer, reports it, and stops reconnecting', async () => {
    const port = await freePort()
    const a = await listen({
      id: 'a',
      peers: { b: `127.0.0.1:${port}` },
      retryDelayMs: 50,
      retryDelayMsMax: 50,
    })
    for (let i = 0; i < 5; i++) a.send(commit(`tx-${i}`))
    await new Promise((resolve) => setTimeout(resolve, 20)) // the first attempt was refused: waiting 50-100 ms to retry
    await a.close()
    expect(a.stats().dropped.closed).toBe(5)
    const server = createServer()
    let connections = 0
    server.on('connection', (socket) => {
      connections += 1
      socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    await new Promise((resolve) => setTimeout(resolve, 300)) // past the retry that close() cancelled
    await new Promise((resolve) => server.close(resolve))
    expect(connections).toBe(0)
  })

  it('close() delivers what was already queued for a connected peer', async () => {
    const { a, received } = await pair()
    a.send(commit('warm-up'))
    await vi.waitFor(() => expect(received).toHaveLength(1))
    for (let i = 0; i < 100; i++) a.send(commit(`tx-${i}`))
    await a.close()
    await vi.waitFor(() => expect(received).toHaveLength(101))
  })

  it('leaves no socket, server or timer behind after close()', async () => {
    const count = (kinds: readonly string[]) =>
      process.getActiveResourcesInfo().filter((kind) => kinds.includes(kind)).length
    const sockets = ['TCPSocketWrap', 'TCPServerWrap', 'TCPWRAP']
    const timers = ['Timeout', 'Immediate']
    await new Promise((resolve) => setTimeout(resolve, 50)) // let earlier tests' sockets finish closing
    const baseline = { sockets: count(sockets), timers: count(timers) }
    const { a, b, received } = await pair()
    a.send(commit('tx-1'))
    await vi.waitFor(() => expect(received).toHaveLength(1))
    await b.close()
    for (let i = 0; i < 10; i++) a.send(commit(`tx-down-${i}`)) // a now retries the connection on a timer
    await new Promise((resolve) => setTimeout(resolve, 30))
    await a.close()
    await new Promise((resolve) => setTimeout(resolve, 20)) // libuv frees closed handles a loop turn later
    expect(count(sockets)).toBe(baseline.sockets)
    expect(count(timers)).toBeLessThanOrEqual(baseline.timers)
  })
})

describe('TcpTransport receiving', () => {
  it('closes a connection that announces a frame over the limit, and counts it', async () => {
    const { b, received, rejected } = await pair({ maxFrameBytes: 4096 })
    const header = Buffer.alloc(4)
    header.writeUInt32BE(4097)
    expect(await writeRaw(b, header)).toEqual({ closedByServer: true })
    expect(rejected).toEqual([expect.objectContaining({ reason: 'oversized' })])
    expect(b.stats().rejected.oversized).toBe(1)
    expect(received).toEqual([])
  })

  it('closes a connection whose frame has no envelope line', async () => {
    const { b, received, rejected } = await pair()
    expect(await writeRaw(b, frame('not json', commit('tx-1')))).toEqual({ closedByServer: true })
    expect(rejected.map((r) => r.reason)).toEqual(['malformed'])
    expect(received).toEqual([])
  })

  const deep = JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`)
  it.each([
    ['not JSON', Buffer.from('{"v":1,'), 'malformed'],
    ['not UTF-8', Buffer.from([0x22, 0xff, 0xfe, 0x22]), 'malformed'],
    ['an unknown message type', { ...commit('tx-1'), type: 'rollback' }, 'invalid-message'],
    ['a wrong field type', { ...commit('tx-1'), txId: 42 }, 'invalid-message'],
    ['a message for another node', commit('tx-1', 'a', 'c'), 'misaddressed'],
    [
      'a payload nested over 100 levels deep',
      { ...commit('tx-1'), type: 'prepare', onePhase: false, participants: ['b'], payload: deep },
      'malformed',
    ],
    // Too deep is `malformed` whatever else is wrong (review finding: these read misaddressed).
    [
      'a message for another node with a field nested over 100 levels',
      { ...commit('tx-1', 'a', 'c'), extra: deep },
      'malformed',
    ],
    [
      'an invalid message with a field nested over 100 levels',
      { ...commit('tx-1'), txId: 42, extra: deep },
      'malformed',
    ],
  ])('drops a frame carrying %s and keeps the connection', async (_, message, reason) => {
    const { b, received, rejected } = await pair()
    const bytes = Buffer.concat([frame({ from: 'a' }, message), frame({ from: 'a' }, commit('tx-good'))])
    expect(await writeRaw(b, bytes)).toEqual({ closedByServer: false })
    expect(rejected.map((r) => r.reason)).toEqual([reason])
    expect(received.map((m) => m.txId)).toEqual(['tx-good'])
  })

  it('delivers a valid message carrying an unknown field nested over 100 levels, without the field', async () => {
    // Only what `parseMessage` keeps can reach the log or the wire again, so the deep field does no
    // harm: it is dropped, as any unknown field is.
    const { b, received, rejected } = await pair()
    expect(await writeRaw(b, frame({ from: 'a' }, { ...commit('tx-1'), extra: deep }))).toEqual({
      closedByServer: false,
    })
    await vi.waitFor(() => expect(received).toHaveLength(1))
    expect(rejected).toEqual([])
    expect(received[0]).toEqual(commit('tx-1'))
  })

  it('delivers each message validated once, frozen: the runtime does not validate it again', async () => {
    const { a, received } = await pair()
    a.send(SAMPLE_PREPARE)
    a.send(commit('tx-2'))
    await vi.waitFor(() => expect(received).toHaveLength(2))
    expectSealedDelivery(received, [SAMPLE_PREPARE, commit('tx-2')])
  })

  it('delivers a frame split across many tiny writes and many frames in one write', async () => {
    const { b, received } = await pair()
    const bytes = Buffer.concat([0, 1, 2].map((i) => frame({ from: 'a' }, commit(`tx-${i}`))))
    const [host, port] = b.address.split(':') as [string, string]
    const socket = connect({ host, port: Number(port) })
    await new Promise((resolve) => socket.once('connect', resolve))
    for (let i = 0; i < 30; i++) socket.write(bytes.subarray(i, i + 1))
    socket.write(bytes.subarray(30))
    socket.write(bytes)
    await vi.waitFor(() => expect(received).toHaveLength(6))
    socket.destroy()
    expect(received.map((m) => m.txId)).toEqual(['tx-0', 'tx-1', 'tx-2', 'tx-0', 'tx-1', 'tx-2'])
  })

  it('pins a connection to its first sender', async () => {
    const { b, received, rejected } = await pair()
    const bytes = Buffer.concat([
      frame({ from: 'a' }, commit('tx-1')),
      frame({ from: 'c' }, commit('tx-2', 'c')),
    ])
    expect(await writeRaw(b, bytes)).toEqual({ closedByServer: true })
    expect(received.map((m) => m.txId)).toEqual(['tx-1'])
    expect(rejected.map((r) => r.reason)).toEqual(['misattributed'])
  })

  it('delivers nothing after close(), even to a connection that was open', async () => {
    const { a, b, received } = await pair()
    a.send(commit('tx-1'))
    await vi.waitFor(() => expect(received).toHaveLength(1))
    await b.close()
    a.send(commit('tx-2'))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(received).toHaveLength(1)
  })
})
