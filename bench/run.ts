/**
 * `npm run bench` (the full matrix) and `npm run bench:smoke` (a short subset, for CI): measures
 * twopc against naive baselines measured in the same run, prints Markdown tables
 * (targets, raw baselines, cells, recovery, memory) and writes the JSON report.
 *
 * Options:
 * - `--smoke`: the short plan (see `plan.ts`);
 * - `--only <regexp>`: run only the matrix and overload cells whose name matches, and nothing
 *   else — for profiling, e.g. `node --cpu-prof --expose-gc --import ./bench/loader.mjs bench/run.ts --only 'library tcp/memory all-commit N=2 C=1$'`,
 *   or the overload cells alone: `--only overload` (their targets are judged on the cells that ran);
 * - `--out <file>`: where the JSON report goes (default `bench/results/<plan>.json`);
 * - `--dir <directory>`: where the file logs go (default: the OS temp directory).
 * Run with `node --expose-gc --import ./bench/loader.mjs bench/run.ts` (see `loader.mjs`).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { rawFdatasync, rawGroupCommit } from './baselines/disk.js'
import { rawHttpRate } from './baselines/http-rate.js'
import { rawTcpPingPong } from './baselines/tcp-ping-pong.js'
import { cellName, runCell } from './cell.js'
import { ParticipantsHost } from './child/client.js'
import { measureCosts, type WorkloadCosts } from './library/costs.js'
import { measureMemory } from './memory.js'
import { overloadName, runOverload } from './overload.js'
import { FULL, type Plan, SMOKE } from './plan.js'
import { measureInDoubt, measureLoad } from './recovery.js'
import { type CellRuns, describeMachine, formatReport, type Report } from './report.js'
import type { CellResult, CellSpec, MicroResult, OverloadResult, RecoveryResult } from './results.js'
import { startSystem } from './systems.js'
import { cellTargets, evaluateCellTarget, memoryTargets, overloadTargets } from './targets.js'

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    dir: { type: 'string' },
  },
})
const plan: Plan = args.smoke ? SMOKE : FULL
const only = args.only ?? null
const onlyPattern = only === null ? undefined : new RegExp(only)
const out = args.out ?? fileURLToPath(new URL(`./results/${plan.name}.json`, import.meta.url))
const startedAt = new Date()
const loadAtStart = loadavg()[0] ?? 0
const root = await mkdtemp(join(args.dir ?? tmpdir(), 'twopc-bench-'))
const host = ParticipantsHost.start()

function progress(line: string): void {
  process.stderr.write(`${line}\n`)
}

/** Bytes per transaction by workload, from {@link measureCosts}. */
const costs = new Map<string, WorkloadCosts & { n: number; mix: string }>()
async function costsOf(spec: CellSpec): Promise<WorkloadCosts> {
  const key = `${spec.n} ${spec.mix}`
  let known = costs.get(key)
  if (known === undefined) {
    known = { ...(await measureCosts(spec.n, spec.mix, 20)), n: spec.n, mix: spec.mix }
    costs.set(key, known)
  }
  return known
}

const runs = new Map<string, CellResult[]>()
let cellNumber = 0
async function measure(spec: CellSpec): Promise<CellResult> {
  const directory = join(root, `cell-${cellNumber++}`)
  await mkdir(directory)
  const bytes = spec.system === 'library' ? (await costsOf(spec)).bytesPerTx : null
  const system = await startSystem(spec, { directory, host })
  const result = await runCell(system, spec, plan.cell, bytes)
  await system.close()
  await rm(directory, { recursive: true, force: true })
  const name = cellName(spec)
  runs.set(name, [...(runs.get(name) ?? []), result])
  progress(`${name}: ${Math.round(result.tps)} tps, decision p50 ${result.decisionMs.p50.toFixed(2)} ms`)
  return result
}

const overload: OverloadResult[] = []
const micro: MicroResult[] = []
const recovery: RecoveryResult[] = []
let memory: Report['memory'] = null
const targets: Report['targets'][number][] = []
try {
  if (only === null) {
    progress('raw baselines…')
    micro.push(await rawFdatasync(root, plan.microMs))
    micro.push(await rawGroupCommit(root, 1000, plan.microMs))
    micro.push(await rawTcpPingPong(host, plan.microMs))
    micro.push(await rawHttpRate(host, 1, plan.microMs))
    micro.push(await rawHttpRate(host, 100, plan.microMs))
    progress('targets…')
    const pairs = new Map<string, CellSpec>()
    const targetsOfCells = cellTargets(plan.cpuNs)
    for (const target of targetsOfCells)
      for (const spec of [target.library, target.baseline]) if (spec) pairs.set(cellName(spec), spec)
    for (let round = 0; round < plan.rounds; round++) for (const spec of pairs.values()) await measure(spec)
    for (const target of targetsOfCells) {
      const of = (spec: CellSpec | undefined) => (spec === undefined ? [] : (runs.get(cellName(spec)) ?? []))
      targets.push(evaluateCellTarget(target, of(target.library), of(target.baseline)))
    }
  }
  progress('matrix…')
  for (const spec of plan.cells) {
    const name = cellName(spec)
    if (onlyPattern !== undefined ? onlyPattern.test(name) : !runs.has(name)) await measure(spec)
  }
  if (plan.overload !== null) {
    const { n, cs, timing } = plan.overload
    const specs = cs.map((c) => ({ n, c })).filter((spec) => onlyPattern?.test(overloadName(spec)) ?? true)
    if (specs.length > 0) progress('overload…')
    for (const spec of specs) {
      const result = await runOverload(spec, timing)
      overload.push(result)
      progress(
        `${overloadName(spec)}: ${Math.round(result.committedTps)} committed tps, ` +
          `${result.messagesPerCommittedTx.toFixed(2)} messages per committed tx, ` +
          `${result.prepareTimeouts} prepare timeouts`,
      )
    }
  }
  if (only === null) {
    progress('recovery…')
    recovery.push(...(await measureLoad(await mkdtemp(join(root, 'load-')), plan.recovery.records)))
    recovery.push(await measureInDoubt(await mkdtemp(join(root, 'in-doubt-')), plan.recovery.inDoubt))
    progress('memory…')
    memory = await measureMemory(plan.memory)
    targets.push(...memoryTargets(memory))
  }
  if (plan.overload !== null) targets.push(...overloadTargets(overload, plan.overload.cs[0] ?? 0))
} finally {
  await host.close()
  await rm(root, { recursive: true, force: true })
}

const names = new Set([...plan.cells.map(cellName), ...runs.keys()])
const cells: CellRuns[] = [...names].flatMap((name) => {
  const results = runs.get(name)
  return results === undefined ? [] : [{ name, runs: results }]
})
const report: Report = {
  plan: plan.name,
  only,
  startedAt: startedAt.toISOString(),
  durationMs: Date.now() - startedAt.getTime(),
  machine: describeMachine(args.dir ?? tmpdir(), loadAtStart),
  costs: [...costs.values()],
  micro,
  cells,
  overload,
  recovery,
  memory,
  targets,
}
await mkdir(dirname(out), { recursive: true })
await writeFile(out, `${JSON.stringify(report, null, 2)}\n`)
process.stdout.write(formatReport(report))
progress(`report written to ${out}`)
