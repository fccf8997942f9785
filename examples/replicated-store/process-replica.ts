/**
 * The parent's handle on one replica process (`replica-process.ts`): starts it, tells it where its
 * peers listen, asks it things over IPC, and kills it. It is the {@link ReplicaClient} the leader
 * and the example's clients use to reach that replica.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { NodeStats } from '../../src/index.js'
import type { ReadResult, ReplicaClient, ReplicaStatus, Snapshot } from './replica-api.js'
import type { FromReplica, ReplicaProcessConfig, ToReplica } from './replica-process.js'

const SCRIPT = fileURLToPath(new URL('./replica-process.ts', import.meta.url))
type Method = Extract<ToReplica, { type: 'request' }>['method']

/** A replica running as a child process. */
export class ProcessReplica implements ReplicaClient {
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  private nextRequestId = 0
  private readonly ready: Promise<void>
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>

  private constructor(
    readonly id: string,
    /** Where its TCP transport listens, `127.0.0.1:<port>`. */
    readonly address: string,
    private readonly child: ChildProcess,
    private readonly requestTimeoutMs: number,
  ) {
    this.ready = new Promise((resolve) =>
      child.on('message', (message: FromReplica) => {
        if (message.type === 'ready') resolve()
        else if (message.type === 'response') this.settle(message)
      }),
    )
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        for (const request of this.pending.values()) request.reject(new Error(`${id} is down`))
        this.pending.clear()
        resolve()
      }),
    )
  }

  /** Forks the replica and resolves once it listens; then call {@link start} with the peers' addresses. */
  static async spawn(config: ReplicaProcessConfig, requestTimeoutMs = 2000): Promise<ProcessReplica> {
    const child = fork(SCRIPT, [JSON.stringify(config)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const address = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`${config.id} exited at start (${code ?? signal})`)),
      )
      child.once('message', (message: FromReplica) => {
        if (message.type === 'listening') resolve(message.address)
      })
    })
    child.removeAllListeners('exit')
    return new ProcessReplica(config.id, address, child, requestTimeoutMs)
  }

  /** Gives it its peers' addresses (first call: it then opens its store and log and starts). Resolves once it runs. */
  async start(peers: Readonly<Record<string, string>>): Promise<void> {
    this.setPeers(peers)
    await this.ready
  }

  /** Tells it where its peers listen now (a restarted peer listens on a new port). */
  setPeers(peers: Readonly<Record<string, string>>): void {
    this.post({ type: 'peers', peers })
  }

  get(key: string): Promise<ReadResult> {
    return this.request('get', key) as Promise<ReadResult>
  }

  status(): Promise<ReplicaStatus> {
    return this.request('status') as Promise<ReplicaStatus>
  }

  snapshot(): Promise<Snapshot> {
    return this.request('snapshot') as Promise<Snapshot>
  }

  async install(snapshot: Snapshot): Promise<void> {
    await this.request('install', snapshot)
  }

  /** Its participant's counters and how many times its store was saved. */
  stats(): Promise<{ readonly node: NodeStats; readonly storeSaves: number }> {
    return this.request('stats') as Promise<{ node: NodeStats; storeSaves: number }>
  }

  /** `kill -9`: no chance to flush anything. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.exited
  }

  /** Closes it cleanly (its participant closes its log), or kills it after `timeoutMs`. */
  async stop(timeoutMs = 2000): Promise<void> {
    this.post({ type: 'stop' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    await this.exited
    clearTimeout(timer)
  }

  private request(method: Method, argument?: unknown): Promise<unknown> {
    if (!this.child.connected) return Promise.reject(new Error(`${this.id} is down`))
    this.nextRequestId += 1
    const id = this.nextRequestId
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.id} did not answer ${method} within ${this.requestTimeoutMs} ms`))
      }, this.requestTimeoutMs)
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.post({ type: 'request', id, method, argument }, (error) => this.pending.get(id)?.reject(error))
    })
  }

  /** Sends over IPC; a channel that closes under us (the child died) reports to `failed`, never throws. */
  private post(message: ToReplica, failed: (error: Error) => void = () => {}): void {
    if (!this.child.connected) return failed(new Error(`${this.id} is down`))
    this.child.send(message, (error) => {
      if (error !== null) failed(error)
    })
  }

  private settle(message: Extract<FromReplica, { type: 'response' }>): void {
    const request = this.pending.get(message.id)
    this.pending.delete(message.id)
    if (message.ok) request?.resolve(message.value)
    else request?.reject(new Error(String(message.value)))
  }
}
