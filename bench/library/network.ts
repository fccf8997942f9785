import type { Transport } from '../../src/index.js'
import { HttpTransport, TcpTransport } from '../../src/node.js'

/** The network transports a cell can run over, each on 127.0.0.1. */
export type NetworkKind = 'tcp' | 'http'

/** One node's listening transport. */
export interface NetworkEndpoint {
  readonly transport: Transport
  /** Where peers reach it: `host:port` for TCP, a URL for HTTP. */
  readonly address: string
  /** Tells it where peer `id` listens. */
  setPeer(id: string, address: string): void
}

let warningSilenced = false

/**
 * The benchmark runs its transports unauthenticated on loopback, on purpose (the baselines have
 * no authentication either), so the transports' console warning about it is dropped.
 */
function silenceUnauthenticatedWarning(): void {
  if (warningSilenced) return
  warningSilenced = true
  const warn = console.warn
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('UNAUTHENTICATED')) return
    warn(...args)
  }
}

/** Starts node `id`'s transport of `kind` on 127.0.0.1, on a port the OS picks. */
export async function listenOn(kind: NetworkKind, id: string): Promise<NetworkEndpoint> {
  silenceUnauthenticatedWarning()
  if (kind === 'tcp') {
    const transport = await TcpTransport.listen({ id, listen: '127.0.0.1:0' })
    return {
      transport,
      address: transport.address,
      setPeer: (peer, address) => transport.setPeer(peer, address),
    }
  }
  const transport = new HttpTransport({ id })
  const address = await transport.listen('127.0.0.1:0')
  return { transport, address, setPeer: (peer, address) => transport.setPeer(peer, address) }
}
