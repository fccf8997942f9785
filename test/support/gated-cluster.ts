import {
  Coordinator,
  type CoordinatorOptions,
  MemoryLog,
  MemoryNetwork,
  Participant,
  type Vote,
} from '../../src/index.js'

/** Lets `turns` event-loop turns pass (appends, releases, deliveries). */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}

/**
 * A started coordinator (with `options`) and one participant `p` whose `prepare` answers only when
 * the test calls `answer()`; `prepared` lists the transactions whose prepare began, in order. Both
 * nodes are pushed on `open`, for the test file to close.
 */
export async function gatedCluster(
  open: { close(): Promise<void> }[],
  options: Partial<CoordinatorOptions> = {},
) {
  const net = new MemoryNetwork()
  const gates: ((vote: Vote) => void)[] = []
  const prepared: string[] = []
  const resource = {
    prepare: (tx: { txId: string }) =>
      new Promise<Vote>((resolve) => {
        prepared.push(tx.txId)
        gates.push(resolve)
      }),
    commit: () => {},
    abort: () => {},
  }
  const coordinator = new Coordinator({
    id: 'coord',
    transport: net.connect('coord'),
    log: new MemoryLog(),
    ...options,
  })
  const participant = new Participant({
    id: 'p',
    transport: net.connect('p'),
    log: new MemoryLog(),
    resource,
  })
  open.push(coordinator, participant)
  await Promise.all([coordinator.start(), participant.start()])
  /** Every prepare waiting votes yes; then the effects settle. */
  const answer = async () => {
    for (const gate of gates.splice(0)) gate('yes')
    await settle()
  }
  return { coordinator, prepared, answer }
}
