import { TwopcError } from '../core/errors.js'
import { type Message, parseMessage } from '../core/messages.js'
import type { NodeId } from '../core/types.js'
import { jsonShape, sealMessage } from '../core/validate.js'
import type { InboundRejectionReason } from './transport-events.js'

/**
 * Deepest JSON nesting accepted in inbound bytes. `JSON.parse` copes with any depth, but a payload
 * nested a few thousand levels deep makes every later `JSON.stringify` (a log append, a copy)
 * overflow the stack, which would halt the node: so it is refused at the edge.
 */
const MAX_JSON_DEPTH = 100

/** The outcome of {@link admitMessages}. */
export type Admission =
  | { readonly ok: true; readonly messages: readonly Message[] }
  | { readonly ok: false; readonly reason: InboundRejectionReason; readonly detail: string }

const utf8 = new TextDecoder('utf-8', { fatal: true })

const TOO_DEEP: Admission = {
  ok: false,
  reason: 'malformed',
  detail: `JSON nested over ${MAX_JSON_DEPTH} levels`,
}

/** What the bytes must be, besides valid messages. */
export interface AdmissionRules {
  /** This node: every message must be addressed to it. */
  readonly self: NodeId
  /** The authenticated (or, without a secret, declared) sender every `from` must equal; `undefined` to skip. */
  readonly sender: NodeId | undefined
  /** A non-empty JSON array of messages (HTTP) rather than one message (TCP); the size limit bounds its length. */
  readonly batch: boolean
}

/**
 * The last gate inbound bytes pass, after size and authentication checks: decodes UTF-8 JSON,
 * validates every message with `parseMessage`, and checks that each comes from `rules.sender` and
 * goes to `rules.self`. The messages admitted are sealed (deep-frozen and known valid), so the
 * runtime's own `parseMessage` returns them at once: each is validated once, here. Called by the
 * network transports for each frame or request body; never throws, whatever `body` holds.
 */
export function admitMessages(body: Uint8Array, rules: AdmissionRules): Admission {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(body))
  } catch (error) {
    return { ok: false, reason: 'malformed', detail: `not UTF-8 JSON: ${(error as Error).message}` }
  }
  // The depth of the whole is checked only where it can matter: a message `parseMessage` accepts
  // keeps no value deeper than its payload, so a valid frame's depth is its payloads' plus the
  // levels above them; a refused frame is `malformed` if it is too deep, whatever else is wrong.
  const refuse = (reason: InboundRejectionReason, detail: string): Admission =>
    jsonShape(value, MAX_JSON_DEPTH) === 'too-deep' ? TOO_DEEP : { ok: false, reason, detail }
  if (rules.batch && (!Array.isArray(value) || value.length === 0))
    return refuse('malformed', 'expected a non-empty JSON array of messages')
  const levelsAbovePayload = rules.batch ? 2 : 1
  const messages: Message[] = []
  for (const raw of rules.batch ? (value as unknown[]) : [value]) {
    let message: Message
    try {
      message = parseMessage(raw)
    } catch (error) {
      return refuse('invalid-message', error instanceof TwopcError ? error.message : String(error))
    }
    if (
      message.type === 'prepare' &&
      jsonShape(message.payload, MAX_JSON_DEPTH - levelsAbovePayload) === 'too-deep'
    )
      return TOO_DEEP
    if (rules.sender !== undefined && message.from !== rules.sender)
      return refuse(
        'misattributed',
        `message from ${JSON.stringify(message.from)} sent by ${JSON.stringify(rules.sender)}`,
      )
    if (message.to !== rules.self)
      return refuse('misaddressed', `message to ${JSON.stringify(message.to)} received here`)
    // The message and its payload come from this JSON.parse alone: freezing them takes nothing from anyone.
    messages.push(sealMessage(message))
  }
  return { ok: true, messages }
}
