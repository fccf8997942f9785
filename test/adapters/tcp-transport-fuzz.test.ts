import { connect } from 'node:net'
import { fc, test } from '@fast-check/vitest'
import { afterAll, beforeAll, describe, expect, vi } from 'vitest'
import { encodeFrames } from '../../src/adapters/frame-codec.js'
import { MemoryLog } from '../../src/adapters/memory-log.js'
import { TcpTransport } from '../../src/adapters/tcp-transport.js'
import { Participant, type ParticipantEvents } from '../../src/runtime/participant.js'
import type { NodeStats } from '../../src/runtime/stats.js'
import { RecordingResource } from '../runtime/cluster.js'
import { messageShapedJunk } from '../support/junk-messages.js'

/**
 * Hostile bytes at a participant's TCP port: random bytes, random frames, random JSON and
 * message-shaped junk. The process must stay up, and whatever the transport refuses must change
 * nothing in the participant behind it: same stats, no events, no resource calls.
 */

const EVENTS: (keyof ParticipantEvents)[] = [
  'voted',
  'in-doubt',
  'decided',
  'applied',
  'heuristic-mismatch',
  'message-dropped',
  'resource-error',
  'halted',
]

let transport: TcpTransport
let participant: Participant
const resource = new RecordingResource()
const events: string[] = []

beforeAll(async () => {
  // Unauthenticated on purpose: the parser is the target.
  transport = await TcpTransport.listen({
    id: 'bank',
    listen: '127.0.0.1:0',
    maxFrameBytes: 64 * 1024,
    authentication: 'none',
  })
  participant = new Participant({ id: 'bank', transport, log: new MemoryLog(), resource })
  for (const name of EVENTS) participant.on(name, () => events.push(name))
  await participant.start()
})

afterAll(async () => {
  await participant.close()
})

/** Writes `bytes` on a fresh connection, ends it, and resolves once the transport has read everything. */
async function deliver(bytes: Uint8Array): Promise<void> {
  const [host, port] = transport.address.split(':') as [string, string]
  const socket = connect({ host, port: Number(port) })
  socket.on('error', () => {})
  socket.resume()
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve())
    socket.once('connect', () => socket.end(bytes))
  })
}

function frame(envelope: string, message: Uint8Array): Buffer {
  return encodeFrames([{ envelope, message: Buffer.from(message) }])
}

/** Everything the node could have changed, to compare before and after an input. */
function snapshot(): { stats: NodeStats; events: number; calls: number } {
  return { stats: participant.stats(), events: events.length, calls: resource.calls.length }
}

/** Delivers `bytes` and checks that the transport refused them and nothing changed behind it. */
async function expectRefusedWithoutEffect(bytes: Uint8Array): Promise<void> {
  const before = { node: snapshot(), accepted: transport.stats().messagesReceived }
  await deliver(bytes)
  expect({ node: snapshot(), accepted: transport.stats().messagesReceived }).toEqual(before)
}

/** Message-shaped junk aimed at the participant, never a valid message from coord to bank. */
const junkMessage = messageShapedJunk('coord', 'bank')

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value) ?? 'undefined')

describe('TcpTransport under hostile input', () => {
  test.prop([fc.uint8Array({ maxLength: 4096 })], { numRuns: 150 })(
    'random bytes are refused without effect',
    async (bytes) => {
      await expectRefusedWithoutEffect(bytes)
    },
  )

  test.prop([fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 2048 })], { numRuns: 150 })(
    'well-framed random envelopes and bodies are refused without effect',
    async (envelope, body) => {
      await expectRefusedWithoutEffect(frame(envelope, body))
    },
  )

  test.prop([fc.oneof(fc.jsonValue(), junkMessage)], { numRuns: 300 })(
    'random JSON and message-shaped junk from a declared sender are refused without effect',
    async (value) => {
      await expectRefusedWithoutEffect(frame('{"from":"coord"}', json(value)))
    },
  )

  test.prop([fc.array(fc.oneof(fc.jsonValue(), junkMessage), { maxLength: 5 })], { numRuns: 100 })(
    'many frames on one connection are each judged on their own',
    async (values) => {
      await expectRefusedWithoutEffect(
        Buffer.concat(values.map((value) => frame('{"from":"coord"}', json(value)))),
      )
    },
  )

  test('the node behind it is untouched and still works', async () => {
    expect(participant.stats().messagesReceived).toBe(transport.stats().messagesReceived)
    const rejected = Object.values(transport.stats().rejected).reduce((sum, count) => sum + count, 0)
    expect(rejected).toBeGreaterThan(500)
    await deliver(
      frame(
        '{"from":"coord"}',
        json({
          v: 2,
          type: 'prepare',
          txId: 'tx-ok',
          from: 'coord',
          to: 'bank',
          payload: 1,
          participants: ['bank'],
          onePhase: false,
          // Bound to the participant's first life (a fresh log), the first transaction of the coordinator's first epoch.
          inc: 1,
          epoch: 1,
          seq: 1,
        }),
      ),
    )
    await vi.waitFor(() => expect(resource.prepared).toContain('tx-ok'))
  })
})
