import { MESSAGE_TYPES, type MessageType } from '../core/messages.js'

/** Counters of a node, the same shape on `Coordinator` and `Participant`. */
export interface NodeStats {
  /** Messages handed to the transport, by type. */
  readonly messagesSent: Readonly<Record<MessageType, number>>
  /** Messages received that passed validation. */
  readonly messagesReceived: number
  /** Messages ignored, for any reason (see the `message-dropped` event). */
  readonly messagesDropped: number
  /** Transport `send` calls that threw or rejected (retransmission covers them); each is also a `send-failed` event. */
  readonly sendFailures: number
  /** Records appended to the log. */
  readonly recordsAppended: number
  /** Appends that had to be durable before a message could leave: the protocol's forced writes. */
  readonly forcedAppends: number
  /**
   * Appends handed to the log. The forced writes of one event-loop turn share one append (and so
   * one sync), and lazy records ride with it, so under load this is far below `forcedAppends`.
   */
  readonly logAppends: number
  /** Transactions in flight on this node. */
  readonly inFlight: number
  /** Transactions this node voted yes on with no outcome yet (always 0 on a coordinator). */
  readonly inDoubt: number
}

/** Mutable counters behind {@link NodeStats}. */
export class Counters {
  readonly messagesSent = Object.fromEntries(MESSAGE_TYPES.map((type) => [type, 0])) as Record<
    MessageType,
    number
  >
  messagesReceived = 0
  messagesDropped = 0
  sendFailures = 0
  recordsAppended = 0
  forcedAppends = 0
  logAppends = 0

  /** A snapshot, with the gauges the caller knows. */
  snapshot(inFlight: number, inDoubt: number): NodeStats {
    return {
      messagesSent: { ...this.messagesSent },
      messagesReceived: this.messagesReceived,
      messagesDropped: this.messagesDropped,
      sendFailures: this.sendFailures,
      recordsAppended: this.recordsAppended,
      forcedAppends: this.forcedAppends,
      logAppends: this.logAppends,
      inFlight,
      inDoubt,
    }
  }
}
