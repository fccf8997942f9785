import { type ChildProcess, fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeStats } from '../../src/index.js'

/** What a child process sends up its IPC channel: `{ kind, ...fields }`. */
export type ChildReport = { kind: string; [key: string]: unknown }

/** How to start the children of a {@link ProcessCluster}. */
export interface ProcessClusterOptions<Name extends string> {
  /** Absolute path of the TypeScript script each child runs (through tsx). */
  script: string
  /** Prefix of the temporary directory the cluster makes for the children's files. */
  dirPrefix: string
  /**
   * The child's command-line arguments. `incarnation` counts every start in the cluster, so that a
   * restarted node can tell its transaction ids from those of its earlier lives.
   */
  args: (name: Name, dir: string, incarnation: number) => string[]
}

/**
 * Runs each node as its own OS process and routes their protocol messages over IPC, so that a test
 * can kill a node with SIGKILL at any moment: a real crash, not a simulated one.
 *
 * The child side is `ipcTransport` (test/support/ipc-transport.ts). A child reports
 * `{ kind: 'started' }` once it is up, sends protocol messages as `{ kind: 'message', message }`
 * (routed here by `message.to`), and answers `{ kind: 'status' }` with its `NodeStats`. Any other
 * kind a child reports goes to {@link ProcessCluster.onReport}, which subclasses override for their
 * own kinds (decisions, reconciliation reports, …).
 */
export class ProcessCluster<Name extends string> {
  /** The children's working directory (logs, durable side files), removed by {@link stopAll}. */
  readonly dir: string
  readonly children = new Map<Name, ChildProcess>()
  private incarnation = 0
  private readonly statusWaiters = new Map<Name, (stats: NodeStats) => void>()

  constructor(private readonly options: ProcessClusterOptions<Name>) {
    this.dir = mkdtempSync(join(tmpdir(), options.dirPrefix))
  }

  /** Forks `name` and resolves once it reports `started`; rejects if it exits before that. */
  async start(name: Name): Promise<void> {
    this.incarnation += 1
    const child = fork(this.options.script, this.options.args(name, this.dir, this.incarnation), {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.children.set(name, child)
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`${name} exited before starting (${code ?? signal})`)),
      )
      child.on('message', (value: ChildReport) => {
        if (value.kind === 'started') resolve()
        else if (value.kind === 'message') this.route(value.message as { to: Name })
        else if (value.kind === 'status') this.statusWaiters.get(name)?.(value.stats as NodeStats)
        else this.onReport(name, value)
      })
    })
    // From here on an exit is a kill the test asked for, not a failure to start.
    child.removeAllListeners('exit')
  }

  /** Kills `name` with SIGKILL (no chance to flush or clean up) and resolves once it has exited. */
  async kill(name: Name): Promise<void> {
    const child = this.children.get(name)
    this.children.delete(name)
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  /** Asks the running node `name` for its stats. */
  status(name: Name): Promise<NodeStats> {
    const child = this.children.get(name)
    if (child === undefined) return Promise.reject(new Error(`${name} is not running`))
    const reply = new Promise<NodeStats>((resolve) => this.statusWaiters.set(name, resolve))
    child.send({ kind: 'status' })
    return reply
  }

  /** Sends a control message to `name`, if it is running. */
  send(name: Name, value: ChildReport): void {
    this.children.get(name)?.send(value)
  }

  /** Kills every child and removes {@link dir}. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((name) => this.kill(name)))
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** Called with every report of a kind the cluster does not handle itself; ignores them unless overridden. */
  protected onReport(_name: Name, _report: ChildReport): void {}

  private route(message: { to: Name }): void {
    const child = this.children.get(message.to)
    if (child?.connected) child.send({ kind: 'message', message }, () => {}) // a dying peer loses it, like a network would
  }
}
