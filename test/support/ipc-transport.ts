import type { Transport } from '../../src/index.js'

/** A control message between a child node and its parent: `{ kind, ...fields }`. */
export type ControlMessage = { kind: string; [key: string]: unknown }

/** The child's end of the IPC channel to a `ProcessCluster` parent (test/support/process-cluster.ts). */
export interface IpcChannel {
  /** The node's transport: every message goes up to the parent, which routes it by `to`. */
  readonly transport: Transport
  /** Sends a control message to the parent (`started`, `status`, and test-specific kinds). */
  report(value: ControlMessage): void
  /** Handles the parent's control messages of `kind` (not `message`: those feed the transport). */
  on(kind: string, handler: (value: ControlMessage) => void): void
}

/**
 * The child side of test/support/process-cluster.ts, for a script run with `fork`: a `Transport`
 * over the IPC channel, so that the parent can cut a node off by killing its process, plus the
 * control channel for everything else. Messages that arrive before the node has registered its
 * transport handler are dropped, as a network would drop them; retransmission covers that.
 */
export function ipcTransport(): IpcChannel {
  const report = (value: ControlMessage) => void process.send?.(value)
  let deliver: ((message: unknown) => void) | undefined
  const handlers = new Map<string, (value: ControlMessage) => void>()
  process.on('message', (value: ControlMessage) => {
    if (value.kind === 'message') deliver?.(value.message)
    else handlers.get(value.kind)?.(value)
  })
  return {
    transport: {
      send: (message) => report({ kind: 'message', message }),
      onMessage: (handler) => {
        deliver = handler
      },
    },
    report,
    on: (kind, handler) => {
      handlers.set(kind, handler)
    },
  }
}
