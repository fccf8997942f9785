import { ChannelHub } from '../../examples/custom-transport.js'
import { runTransportConformance } from '../../src/testing/transport-conformance.js'

// The user-written transport of examples/custom-transport.ts passes the suite users are told to run.
runTransportConformance('ChannelHub (examples/custom-transport.ts)', () => {
  const hub = new ChannelHub()
  return { open: (id) => hub.connect(id) }
})
