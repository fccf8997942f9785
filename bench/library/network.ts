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

/**
 * Starts node `id`'s transport of `kind` on 127.0.0.1, on a port the OS picks. Unauthenticated on
 * purpose: the baselines it is compared with have no authentication either.
 */
export async function listenOn(kind: NetworkKind, id: string): Promise<NetworkEndpoint> {
  if (kind === 'tcp') {
    const transport = await TcpTransport.listen({ id, listen: '127.0.0.1:0', authentication: 'none' })
    return {
      transport,
      address: transport.address,
      setPeer: (peer, address) => transport.setPeer(peer, address),
    }
  }
  const transport = new HttpTransport({ id, authentication: 'none' })
  const address = await transport.listen('127.0.0.1:0')
  return { transport, address, setPeer: (peer, address) => transport.setPeer(peer, address) }
}
