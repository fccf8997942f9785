import { TwopcError } from './errors.js'
import type { ReadyBuilder } from './ready.js'
import { incarnationTxId, type LogRecord, type NodeRole } from './records.js'
import type { NodeId } from './types.js'

/**
 * Called by both cores' `recover` before they read anything else: every incarnation record in
 * `records` must name this node (`node`, `role`). A log opened by another node (a wrong path, two
 * services given one volume) would make it answer for transactions it never took part in — or,
 * for a coordinator opening a participant's log, decide from records that mean something else.
 * Version-1 logs hold no owner (`created` records) and pass.
 *
 * @throws TwopcError `LOG_OWNER_MISMATCH` saying whose log it is and which node tried to open it.
 */
export function assertLogOwner(records: readonly LogRecord[], node: NodeId, role: NodeRole): void {
  for (const record of records) {
    if (record.type !== 'incarnation' || (record.node === node && record.role === role)) continue
    throw new TwopcError(
      'LOG_OWNER_MISMATCH',
      `Log belongs to ${record.role} ${record.node}; this node is ${role} ${node}: check the log path`,
    )
  }
}

/**
 * Starts a node's next life (`last` + 1) in `ready`: its incarnation record, forced (durable before
 * anything the new life sends), and the lazy `end` of the previous one, so compaction keeps only the
 * latest. Returns the new life's number. Called by both cores' `recover`.
 */
export function startLife<Event>(
  ready: ReadyBuilder<Event>,
  node: NodeId,
  role: NodeRole,
  last: number,
): number {
  const n = last + 1
  ready.persist({ type: 'incarnation', txId: incarnationTxId(n), n, node, role }, true)
  if (last > 0) ready.persist({ type: 'end', txId: incarnationTxId(last) }, false)
  return n
}
