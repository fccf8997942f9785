import { TwopcError } from '../core/errors.js'
import type { Message } from '../core/messages.js'
import type { NodeId } from '../core/types.js'
import { isId } from '../core/validate.js'
import type { PeerQueue } from './peer-queue.js'
import type { OutboundDrop } from './transport-events.js'

/** How a transport names a peer's location and its size limit, for error messages. */
export interface OutboundWording {
  /** What `peers` maps a node id to: 'URL' or 'address'. */
  readonly location: string
  /** The option that sets the size limit: 'maxBodyBytes' or 'maxFrameBytes'. */
  readonly limitOption: string
}

/**
 * Finds the link to `message.to` and encodes the message, the first half of every network
 * transport's `send`. Throws for caller bugs only: a recipient with no entry in `peers`, or a
 * message over the transport's limit (which no retransmission could ever deliver).
 *
 * @throws TwopcError `INVALID_MESSAGE` naming the recipient or the size and the option to raise.
 */
export function routeOutbound<Link>(
  links: ReadonlyMap<NodeId, Link>,
  message: Message,
  maxMessageBytes: number,
  wording: OutboundWording,
): { readonly link: Link; readonly bytes: Buffer } {
  const to: unknown = (message as Partial<Message> | null)?.to
  const link = isId(to) ? links.get(to) : undefined
  if (link === undefined) {
    throw new TwopcError(
      'INVALID_MESSAGE',
      `No ${wording.location} for node ${JSON.stringify(to)}: add it to \`peers\``,
    )
  }
  const bytes = Buffer.from(JSON.stringify(message))
  if (bytes.length > maxMessageBytes) {
    throw new TwopcError(
      'INVALID_MESSAGE',
      `Message of ${bytes.length} bytes exceeds this transport's limit of ${maxMessageBytes} (raise \`${wording.limitOption}\` on every node)`,
    )
  }
  return { link, bytes }
}

/** Queues `message` for `peer` and reports the oldest messages the bounded queue dropped, if any. */
export function enqueueReportingDrops(
  queue: PeerQueue,
  peer: NodeId,
  message: Buffer,
  drop: (drop: OutboundDrop) => void,
): void {
  const dropped = queue.push(message)
  if (dropped > 0) {
    drop({
      reason: 'queue-full',
      to: peer,
      count: dropped,
      detail: `the queue for ${peer} holds its limit of messages or bytes; dropped the oldest`,
    })
  }
}
