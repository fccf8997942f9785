import { describe, expect, it } from 'vitest'
import { type Message, PROTOCOL_VERSION, parseMessage } from '../core/messages.js'
import type { Json, NodeId } from '../core/types.js'
import type { Transport } from '../runtime/interfaces.js'

/** The two node ids the suite opens endpoints for. */
export const CONFORMANCE_NODES = ['alpha', 'beta'] as const

/**
 * Two endpoints of one transport, for one test. The suite opens both ({@link CONFORMANCE_NODES})
 * before sending anything, closes them with the transport's own `close()`, and may open an id
 * again after closing it.
 */
export interface TransportConformanceHarness {
  /**
   * Returns a ready endpoint for node `id` that can send to, and receive from, the other node —
   * including one opened later (a harness that binds port 0 tells the endpoints each other's
   * address as they open). Opening an id again after its endpoint closed is a restart: the new
   * endpoint must be reachable where the old one was, and the other endpoint must find it there
   * without being told.
   */
  open(id: NodeId): Transport | Promise<Transport>
  /**
   * The largest message, in bytes of its UTF-8 JSON, the transport carries. The suite sends one
   * exactly this large.
   * @default 1048576 (1 MiB)
   */
  readonly maxMessageBytes?: number
  /** Releases whatever the harness holds after a test (its endpoints are closed already). Optional. */
  cleanup?(): void | Promise<void>
}

/** Makes a fresh {@link TransportConformanceHarness}; called once per test. */
export type TransportConformanceFactory = () =>
  | TransportConformanceHarness
  | Promise<TransportConformanceHarness>

/** How long the suite waits for a delivery it expects before failing. */
const DELIVERY_TIMEOUT_MS = 10_000
/** Per-test timeout: the waits above plus opening and closing. */
const TEST_TIMEOUT_MS = 30_000
/** How long the suite watches for deliveries that must not happen. */
const QUIET_PERIOD_MS = 300

/**
 * Registers vitest tests that check a {@link Transport} against what the runtime relies on:
 * messages are delivered between two endpoints, intact and in any order, up to the size limit;
 * nothing is delivered to an endpoint after `close()`, which is idempotent; an endpoint that
 * restarts on the same address is reached again; and while a peer is down, `send` neither throws
 * nor hangs, and later messages get through once it is back. The suite injects no faults, so while
 * both endpoints are up it expects every message to arrive; duplicates and any order are fine, as
 * the protocol tolerates them — and so is delivering to a restarted endpoint a message sent while
 * the old one was up or down (protocol version 2 refuses requests meant for an earlier life);
 * altered messages, and deliveries to an endpoint after its `close()`, are not.
 *
 * Call it at the top level of a vitest test file (it uses `describe`, `it` and `expect` from
 * `vitest`, which must be installed).
 *
 * @param name - names the `describe` block
 * @param factory - makes a fresh harness for each test
 *
 * @example
 * ```ts
 * // test/my-transport.test.ts
 * import { runTransportConformance } from 'twopc/testing'
 * runTransportConformance('MyTransport', () => {
 *   const hub = new MyHub()
 *   return { open: (id) => hub.connect(id) }
 * })
 * ```
 */
export function runTransportConformance(name: string, factory: TransportConformanceFactory): void {
  const test = (title: string, body: (session: Session) => Promise<void>) =>
    it(
      title,
      async () => {
        const session = new Session(await factory())
        try {
          await body(session)
          session.expectOnlyValidDeliveries()
        } finally {
          await session.dispose()
        }
      },
      TEST_TIMEOUT_MS,
    )
  const [a, b] = CONFORMANCE_NODES

  describe(`Transport conformance: ${name}`, () => {
    test('delivers a message in each direction, intact', async (session) => {
      const alpha = await session.open(a)
      const beta = await session.open(b)
      const there = prepare(a, b, 'tx-there', {
        text: 'ünïcødé 😀 "quoted"\n',
        list: [1, -2.5, true, null],
        empty: {},
      })
      const back = vote(b, a, 'tx-back')
      await alpha.transport.send(there)
      await beta.transport.send(back)
      await beta.waitFor('tx-there')
      await alpha.waitFor('tx-back')
      expectOnly(beta.received, [there])
      expectOnly(alpha.received, [back])
    })

    test('delivers many messages sent at once, in any order', async (session) => {
      const alpha = await session.open(a)
      const beta = await session.open(b)
      const count = 2000
      const there = Array.from({ length: count }, (_, i) => commit(a, b, `tx-a-${i}`))
      const back = Array.from({ length: count }, (_, i) => ack(b, a, `tx-b-${i}`))
      await Promise.all([
        ...there.map((m) => alpha.transport.send(m)),
        ...back.map((m) => beta.transport.send(m)),
      ])
      await beta.waitFor(...there.map((m) => m.txId))
      await alpha.waitFor(...back.map((m) => m.txId))
      expectOnly(beta.received, there)
      expectOnly(alpha.received, back)
    })

    test('carries a message exactly as large as its limit, and the next one', async (session) => {
      const limit = session.maxMessageBytes
      const alpha = await session.open(a)
      const beta = await session.open(b)
      const big = prepareOfSize(a, b, 'tx-big', limit)
      expect(Buffer.byteLength(JSON.stringify(big))).toBe(limit)
      await alpha.transport.send(big)
      await alpha.transport.send(commit(a, b, 'tx-after-big'))
      await beta.waitFor('tx-big', 'tx-after-big')
      expect(beta.received.find((m) => m.txId === 'tx-big')).toEqual(big)
    })

    test('delivers nothing to an endpoint after close(), which is idempotent', async (session) => {
      const alpha = await session.open(a)
      const beta = await session.open(b)
      await alpha.transport.send(commit(a, b, 'tx-before'))
      await beta.waitFor('tx-before')
      await Promise.all([beta.close(), beta.close()])
      await beta.close()
      for (let i = 0; i < 20; i++)
        sendWithoutThrowing(alpha, commit(a, b, `tx-after-${i}`), 'send to a closed peer')
      await settleOrThrowLater(() => beta.transport.send(ack(b, a, 'tx-from-closed')))
      await sleep(QUIET_PERIOD_MS)
      expect(beta.receivedAfterClose, 'messages delivered after close()').toEqual([])
      expect(alpha.received.map((m) => m.txId)).not.toContain('tx-from-closed')
    })

    test('reaches a peer again after it restarts on the same address', async (session) => {
      const alpha = await session.open(a)
      const beta = await session.open(b)
      await alpha.transport.send(commit(a, b, 'tx-first'))
      await beta.waitFor('tx-first')
      await beta.close()
      const restarted = await session.open(b)
      await alpha.resendUntil(restarted, (i) => commit(a, b, `tx-again-${i}`))
      await restarted.resendUntil(alpha, (i) => ack(b, a, `tx-back-${i}`))
    })

    test('send neither throws nor hangs while the peer is down, and gets through once it is back', async (session) => {
      const alpha = await session.open(a)
      const beta = await session.open(b)
      await beta.close()
      const sent = Array.from({ length: 100 }, (_, i) => commit(a, b, `tx-down-${i}`))
      const pending = sent.map((message) =>
        sendWithoutThrowing(alpha, message, 'send while the peer is down'),
      )
      await withTimeout(
        Promise.all(pending),
        DELIVERY_TIMEOUT_MS,
        'send() promises to settle while the peer is down',
      )
      const restarted = await session.open(b)
      await alpha.resendUntil(restarted, (i) => commit(a, b, `tx-up-${i}`))
      // Messages sent while it was down may arrive or be lost, but never altered.
      expectOnly(
        restarted.received.filter((m) => m.txId.startsWith('tx-down-')),
        sent,
      )
    })

    test('close() resolves promptly with messages still queued for a peer that is down', async (session) => {
      const alpha = await session.open(a)
      const beta = await session.open(b)
      await beta.close()
      for (let i = 0; i < 100; i++)
        void settleOrThrowLater(() => alpha.transport.send(commit(a, b, `tx-q-${i}`)))
      await withTimeout(alpha.close(), 5000, 'close() with messages queued for a peer that is down')
    })
  })
}

/** An endpoint under test and everything it received. */
class Endpoint {
  readonly received: Message[] = []
  /** Values delivered that are not valid messages: a conforming transport delivers none. */
  readonly invalid: unknown[] = []
  /** Messages delivered after `close()` was called: a conforming transport delivers none. */
  readonly receivedAfterClose: Message[] = []
  private closeCalled = false

  constructor(readonly transport: Transport) {
    transport.onMessage((value) => {
      let message: Message
      try {
        message = parseMessage(value)
      } catch {
        this.invalid.push(value)
        return
      }
      this.received.push(message)
      if (this.closeCalled) this.receivedAfterClose.push(message)
    })
  }

  async close(): Promise<void> {
    this.closeCalled = true
    await this.transport.close?.()
  }

  async waitFor(...txIds: string[]): Promise<void> {
    const wanted = new Set(txIds)
    await waitUntil(
      () => {
        for (const message of this.received) wanted.delete(message.txId)
        return wanted.size === 0
      },
      () => `${wanted.size} message(s) such as ${[...wanted].slice(0, 3).join(', ')}`,
    )
  }

  /** Sends a fresh message every 50 ms, as the protocol retransmits, until `to` receives one. */
  async resendUntil(to: Endpoint, make: (attempt: number) => Message): Promise<void> {
    const txIds = new Set<string>()
    let attempt = 0
    await waitUntil(
      () => {
        if (to.received.some((m) => txIds.has(m.txId))) return true
        const message = make(attempt++)
        txIds.add(message.txId)
        void settleOrThrowLater(() => this.transport.send(message))
        return false
      },
      () => `one of ${attempt} messages to get through after the restart`,
    )
  }
}

/** The endpoints one test opened; closes them all at the end. */
class Session {
  private readonly endpoints: Endpoint[] = []

  constructor(private readonly harness: TransportConformanceHarness) {}

  get maxMessageBytes(): number {
    return this.harness.maxMessageBytes ?? 1024 * 1024
  }

  async open(id: NodeId): Promise<Endpoint> {
    const endpoint = new Endpoint(await this.harness.open(id))
    this.endpoints.push(endpoint)
    return endpoint
  }

  /** Fails if any endpoint was handed a value that is not a valid message. */
  expectOnlyValidDeliveries(): void {
    for (const endpoint of this.endpoints) expect(endpoint.invalid, 'invalid values delivered').toEqual([])
  }

  async dispose(): Promise<void> {
    await Promise.all(this.endpoints.map((endpoint) => endpoint.close()))
    await this.harness.cleanup?.()
  }
}

function header(from: NodeId, to: NodeId, txId: string) {
  return { v: PROTOCOL_VERSION, txId, from, to } as const
}

function prepare(from: NodeId, to: NodeId, txId: string, payload: Json): Message {
  return {
    ...header(from, to, txId),
    type: 'prepare',
    payload,
    participants: [to],
    onePhase: false,
    inc: 1,
    epoch: 1,
    seq: 1,
  }
}

function vote(from: NodeId, to: NodeId, txId: string): Message {
  return { ...header(from, to, txId), type: 'vote', vote: 'yes', inc: 1 }
}

function commit(from: NodeId, to: NodeId, txId: string): Message {
  return { ...header(from, to, txId), type: 'commit' }
}

function ack(from: NodeId, to: NodeId, txId: string): Message {
  return { ...header(from, to, txId), type: 'ack', inc: 1 }
}

/** A `prepare` whose JSON is exactly `bytes` long, its payload full of multi-byte characters. */
function prepareOfSize(from: NodeId, to: NodeId, txId: string, bytes: number): Message {
  const room = bytes - Buffer.byteLength(JSON.stringify(prepare(from, to, txId, '')))
  const unit = 'ü€😀' // 2 + 3 + 4 bytes in UTF-8, none escaped by JSON
  const units = Math.floor(room / 9)
  return prepare(from, to, txId, unit.repeat(units) + 'a'.repeat(room - units * 9))
}

/** Every received message is one of `sent`, unaltered (duplicates allowed). */
function expectOnly(received: readonly Message[], sent: readonly Message[]): void {
  const byTxId = new Map(sent.map((message) => [message.txId, message]))
  for (const message of received) expect(message).toEqual(byTxId.get(message.txId))
}

/**
 * Sends, failing the test if `send` throws synchronously; a rejection is allowed (the peer is
 * gone). Resolves once the returned promise, if any, settles.
 */
function sendWithoutThrowing(from: Endpoint, message: Message, what: string): Promise<unknown> {
  let result: unknown
  expect(() => {
    result = from.transport.send(message)
  }, what).not.toThrow()
  return Promise.resolve(result).catch(() => undefined)
}

/** Calls `send`, swallowing a synchronous throw or a rejection: for sends whose fate the test does not judge. */
async function settleOrThrowLater(send: () => void | Promise<void>): Promise<void> {
  try {
    await send()
  } catch {
    // A closed endpoint may refuse to send; that is allowed.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function waitUntil(condition: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${DELIVERY_TIMEOUT_MS} ms waiting for ${what()}`)
    await sleep(50)
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
