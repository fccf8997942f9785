import { join } from 'node:path'
import { type DurableLog, MemoryLog } from '../../src/index.js'
import { FileLog } from '../../src/node.js'
import { RecordAtATimeLog } from './record-at-a-time-log.js'

/**
 * The logs a cell can run on: `memory` (MemoryLog), `file-group` (FileLog, group commit) and
 * `file-per-record` (FileLog with one fdatasync per record, see {@link RecordAtATimeLog}).
 */
export type LogKind = 'memory' | 'file-group' | 'file-per-record'

/** A node's log and a way to read how many fdatasyncs it issued (`undefined` for MemoryLog). */
export interface BenchLog {
  readonly log: DurableLog
  syncs(): number | undefined
}

/** Opens a log of `kind` for node `id`, in `directory` for the file logs. */
export function openLog(kind: LogKind, directory: string, id: string): BenchLog {
  if (kind === 'memory') return { log: new MemoryLog(), syncs: () => undefined }
  const file = new FileLog({ path: join(directory, `${id}.log`) })
  const log = kind === 'file-group' ? file : new RecordAtATimeLog(file)
  return { log, syncs: () => file.stats().syncs }
}

/** Sums the fdatasyncs of `logs`; `undefined` when none of them is a file log. */
export function totalSyncs(logs: readonly BenchLog[]): number | undefined {
  let total: number | undefined
  for (const log of logs) {
    const syncs = log.syncs()
    if (syncs !== undefined) total = (total ?? 0) + syncs
  }
  return total
}
