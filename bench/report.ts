import { cpus, loadavg, release, totalmem } from 'node:os'
import { cellName } from './cell.js'
import type { WorkloadCosts } from './library/costs.js'
import type { Percentiles } from './measure.js'
import { overloadName } from './overload.js'
import type {
  CellResult,
  MemoryResult,
  MicroResult,
  OverloadResult,
  RecoveryResult,
  TargetResult,
} from './results.js'

/** The machine a report was measured on. */
export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  /** Where the file logs were written. */
  readonly directory: string
  /** 1-minute load average at the start and the end of the run (other work on the machine). */
  readonly loadAverage: { readonly start: number; readonly end: number }
}

/** Describes this machine; `loadAtStart` is `os.loadavg()[0]` taken when the run began. */
export function describeMachine(directory: string, loadAtStart: number): Machine {
  const processors = cpus()
  return {
    cpu: processors[0]?.model ?? 'unknown',
    cores: processors.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${process.platform} ${release()}`,
    node: process.version,
    directory,
    loadAverage: { start: loadAtStart, end: loadavg()[0] ?? 0 },
  }
}

/** Every run of one cell (more than one for the targets' cells). */
export interface CellRuns {
  readonly name: string
  readonly runs: readonly CellResult[]
}

/** The JSON report. */
export interface Report {
  readonly plan: 'full' | 'smoke'
  /** The `--only` pattern, when it narrowed the run to some matrix cells (then nothing else ran). */
  readonly only: string | null
  readonly startedAt: string
  readonly durationMs: number
  readonly machine: Machine
  /** Exact messages, forced writes and JSON bytes per transaction of each workload, counted one transaction at a time. */
  readonly costs: readonly (WorkloadCosts & { readonly n: number; readonly mix: string })[]
  readonly micro: readonly MicroResult[]
  readonly cells: readonly CellRuns[]
  /** The overload cells that ran (TCP on loopback at large C), smallest C first. */
  readonly overload: readonly OverloadResult[]
  readonly recovery: readonly RecoveryResult[]
  readonly memory: MemoryResult | null
  readonly targets: readonly TargetResult[]
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return '–'
  if (value < 1) return value.toFixed(3)
  if (value < 10) return value.toFixed(2)
  if (value < 100) return value.toFixed(1)
  return value.toFixed(0)
}

function count(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '–'
  if (value >= 1000) return Math.round(value).toLocaleString('en-US')
  return String(Number(value.toPrecision(3)))
}

function latency(p: Percentiles): string {
  return `${ms(p.p50)} / ${ms(p.p99)}`
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`)
  return lines.join('\n')
}

/** The run whose throughput is the median of the cell's runs. */
export function medianRun(runs: readonly CellResult[]): CellResult {
  const sorted = [...runs].sort((a, b) => a.tps - b.tps)
  return sorted[Math.floor((sorted.length - 1) / 2)] as CellResult
}

function cellsTable(cells: readonly CellRuns[]): string {
  return table(
    [
      'cell',
      'tps',
      'decision p50 / p99 ms',
      'completion p50 / p99 ms',
      'msgs/tx',
      'bytes/tx',
      'forced/tx',
      'fsyncs/tx',
      'CPU µs/tx',
      'ELD p99 ms',
    ],
    cells.map(({ runs }) => {
      const run = medianRun(runs)
      return [
        cellName(run.spec),
        count(run.tps),
        latency(run.decisionMs),
        latency(run.completionMs),
        count(run.messagesPerTx),
        count(run.bytesPerTx),
        count(run.forcedWritesPerTx),
        count(run.fsyncsPerTx),
        count(run.cpuUsPerTx),
        ms(run.eventLoopDelayMs.p99),
      ]
    }),
  )
}

function overloadTable(overload: readonly OverloadResult[]): string {
  return table(
    [
      'overload cell',
      'committed tps',
      'decision p50 / p99 ms',
      'completion p50 / p99 ms',
      'msgs/committed tx',
      'msgs by type',
      'prepare timeouts',
      'other outcomes',
      'transport drops',
      'CPU µs/committed tx',
      'ELD p99 / max ms',
    ],
    overload.map((result) => [
      overloadName(result.spec),
      count(result.committedTps),
      latency(result.decisionMs),
      latency(result.completionMs),
      count(result.messagesPerCommittedTx),
      Object.entries(result.messagesByType)
        .filter(([, sent]) => sent > 0)
        .map(([type, sent]) => `${type} ${count(sent)}`)
        .join(', '),
      count(result.prepareTimeouts),
      Object.entries(result.outcomes)
        .filter(([outcome]) => outcome !== 'commit' && outcome !== 'abort: prepare-timeout')
        .map(([outcome, transactions]) => `${outcome} ${count(transactions)}`)
        .join(', ') || '–',
      [
        ...Object.entries(result.transport.dropped).map(([reason, n]) => `dropped ${reason} ${count(n)}`),
        ...Object.entries(result.transport.rejected).map(([reason, n]) => `rejected ${reason} ${count(n)}`),
      ].join(', ') || '0',
      count(result.cpuUsPerCommittedTx),
      `${ms(result.eventLoopDelayMs.p99)} / ${ms(result.eventLoopDelayMs.max)}`,
    ]),
  )
}

function microTable(micro: readonly MicroResult[]): string {
  return table(
    ['raw baseline', 'operation', 'ops/s', 'p50 / p99 ms', 'detail'],
    micro.map((result) => [
      result.name,
      result.operation,
      count(result.opsPerSecond),
      latency(result.latencyMs),
      Object.entries(result.detail)
        .map(([key, value]) => `${key} ${count(value)}`)
        .join(', '),
    ]),
  )
}

function recoveryTable(recovery: readonly RecoveryResult[]): string {
  return table(
    ['recovery', 'ms', 'per second'],
    recovery.map((result) => [result.name, ms(result.ms), count(result.perSecond)]),
  )
}

function memoryTable(memory: MemoryResult): string {
  const { bytesPerInFlightTx: perTx, drain } = memory
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)
  return table(
    ['memory', 'value'],
    [
      [`heap per tx in flight, twopc (${count(perTx.inFlight)} in flight)`, `${count(perTx.library)} B`],
      ['heap per tx in flight, naive 2PC', `${count(perTx.naive)} B`],
      ['heap fresh / after warm-up', `${mib(drain.freshBytes)} / ${mib(drain.startBytes)} MiB`],
      [`heap after ${count(drain.transactions)} more transactions, drained`, `${mib(drain.endBytes)} MiB`],
      ...[memory.steadyState.small, memory.steadyState.large].map(({ remembered, tps }) => [
        `tx/s, C=100, remembering ${count(remembered)} finished transactions (full), by round`,
        tps.map(count).join(', '),
      ]),
    ],
  )
}

function targetsTable(targets: readonly TargetResult[]): string {
  return table(
    ['target', 'twopc', 'baseline', 'ratio (rounds)', 'bound', 'result'],
    targets.map((target) => [
      target.description,
      count(target.library),
      count(target.baseline),
      `${target.ratio.toFixed(3)} (${target.rounds.map((ratio) => ratio.toFixed(2)).join(', ')})`,
      `${target.bound.op} ${target.bound.value}`,
      target.pass ? 'PASS' : 'MISS',
    ]),
  )
}

/** The report as Markdown tables, ready for the README. */
export function formatReport(report: Report): string {
  const { machine } = report
  const sections = [
    `twopc benchmark (${report.plan}${report.only === null ? '' : `, only "${report.only}"`}) — ` +
      `${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}; ` +
      `load average ${machine.loadAverage.start.toFixed(1)} → ${machine.loadAverage.end.toFixed(1)}; ` +
      `${(report.durationMs / 1000).toFixed(0)} s`,
  ]
  if (report.targets.length > 0) sections.push(targetsTable(report.targets))
  if (report.micro.length > 0) sections.push(microTable(report.micro))
  if (report.cells.length > 0) sections.push(cellsTable(report.cells))
  if (report.overload.length > 0) sections.push(overloadTable(report.overload))
  if (report.recovery.length > 0) sections.push(recoveryTable(report.recovery))
  if (report.memory !== null) sections.push(memoryTable(report.memory))
  return `${sections.join('\n\n')}\n`
}
