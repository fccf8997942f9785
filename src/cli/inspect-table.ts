import type { InspectReport } from './inspect.js'

/**
 * Renders an {@link InspectReport} as the plain-text tables `twopc inspect` prints by default: a
 * header (file, owner, frames, tail), then one table per kind of transaction the owner's role can
 * hold, each titled with its count. Pure; `--json` prints the report itself instead.
 */
export function formatReport(path: string, report: InspectReport): string {
  const lines = [`Log     ${path}`, `Owner   ${ownerLine(report)}`, `Frames  ${framesLine(report)}`]
  const { role } = report.owner ?? {}
  if (role !== 'participant') {
    lines.push(
      '',
      ...table(
        'Committing (commit decided, acks missing)',
        ['txId', 'participants'],
        report.committing.map((tx) => [tx.txId, tx.participants.join(', ')]),
      ),
    )
  }
  if (role !== 'coordinator') {
    lines.push(
      '',
      ...table(
        'In doubt (prepared, outcome unknown)',
        ['txId', 'coordinator', 'participants', 'phases'],
        report.inDoubt.map((tx) => [
          tx.txId,
          tx.coordinator,
          tx.participants.join(', '),
          tx.onePhase ? 'one (aborts at restart)' : 'two',
        ]),
      ),
      '',
      ...table(
        'Applying (outcome known, not applied yet)',
        ['txId', 'decision'],
        report.applying.map((tx) => [tx.txId, tx.decision]),
      ),
      '',
      ...table(
        'Heuristic (outcome taken by hand, unconfirmed)',
        ['txId', 'decision', 'reason'],
        report.heuristic.map((tx) => [tx.txId, tx.decision, tx.reason]),
      ),
    )
  }
  lines.push(
    '',
    ...table(
      `Recent (the last of ${report.finished} finished transactions still in the file)`,
      ['txId', 'decision'],
      report.recent.map((tx) => [tx.txId, tx.decision ?? '-']),
    ),
  )
  return `${lines.join('\n')}\n`
}

function ownerLine({ owner }: InspectReport): string {
  if (owner === undefined) return 'unknown (no incarnation record: an empty or a version-1 log)'
  return `${owner.role} ${owner.node}, life ${owner.life}`
}

function framesLine(report: InspectReport): string {
  const tail = report.tailBytes > 0 ? `; tail being written: ${report.tailBytes} bytes` : ''
  return `${report.frames} (${report.liveRecords} live records)${tail}`
}

/** A table titled with its row count, columns padded to their widest cell; the title alone when there is no row. */
function table(title: string, header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const heading = `${title}: ${rows.length}`
  if (rows.length === 0) return [heading]
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  )
  const line = (row: readonly string[]) =>
    `  ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')}`.trimEnd()
  return [heading, line(header), ...rows.map(line)]
}
