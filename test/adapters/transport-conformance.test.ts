import { HttpTransport, type HttpTransportOptions } from '../../src/adapters/http-transport.js'
import { MemoryNetwork } from '../../src/adapters/memory-network.js'
import { TcpTransport, type TcpTransportOptions } from '../../src/adapters/tcp-transport.js'
import type { NodeId } from '../../src/core/types.js'
import type { Transport } from '../../src/runtime/interfaces.js'
import {
  runTransportConformance,
  type TransportConformanceHarness,
} from '../../src/testing/transport-conformance.js'

/** Fast reconnection, so that restarts are noticed within the suite's timeouts. */
const FAST = { retryDelayMs: 10, retryDelayMsMax: 200 } as const

/**
 * Endpoints of a network transport on 127.0.0.1, each on a port the OS picks when it first opens
 * and on that same port when it reopens. Each endpoint is told the others' addresses.
 */
function loopback<T extends Transport & { setPeer(id: NodeId, address: string): void }>(
  maxMessageBytes: number,
  start: (id: NodeId, address: string | undefined) => Promise<{ transport: T; address: string }>,
): TransportConformanceHarness {
  const addresses = new Map<NodeId, string>()
  const latest = new Map<NodeId, T>()
  return {
    maxMessageBytes,
    async open(id) {
      const first = !addresses.has(id)
      const { transport, address } = await start(id, addresses.get(id))
      for (const [other, otherAddress] of addresses) if (other !== id) transport.setPeer(other, otherAddress)
      if (first) for (const other of latest.values()) other.setPeer(id, address)
      addresses.set(id, address)
      latest.set(id, transport)
      return transport
    },
  }
}

function tcp(options: Partial<TcpTransportOptions>): TransportConformanceHarness {
  return loopback(1024 * 1024 - 2049, async (id, address) => {
    const transport = await TcpTransport.listen({ id, listen: address ?? '127.0.0.1:0', ...FAST, ...options })
    return { transport, address: transport.address }
  })
}

function http(options: Partial<HttpTransportOptions>): TransportConformanceHarness {
  return loopback(1024 * 1024 - 2, async (id, url) => {
    const transport = new HttpTransport({ id, ...FAST, ...options })
    const listening = await transport.listen(url === undefined ? '127.0.0.1:0' : new URL(url).host)
    return { transport, address: listening }
  })
}

runTransportConformance('MemoryNetwork', () => {
  const net = new MemoryNetwork()
  return { open: (id) => net.connect(id) }
})

runTransportConformance('TcpTransport (per-peer secrets)', () =>
  tcp({ secrets: { alpha: 'alpha-beta-shared-key', beta: 'alpha-beta-shared-key' } }),
)

runTransportConformance('TcpTransport (unauthenticated)', () => tcp({ authentication: 'none' }))

runTransportConformance('HttpTransport (shared secret)', () => http({ secret: 'cluster-wide-secret-key' }))

runTransportConformance('HttpTransport (unauthenticated)', () => http({ authentication: 'none' }))
