/**
 * `node --import ./bench/loader.mjs bench/run.ts`: runs the benchmark's TypeScript — the library's
 * sources and the baselines alike — compiled by esbuild as plain ES2022, the way `tsc` emits the
 * published package. tsx would also do, but it compiles with `keepNames`: every closure gets a
 * `__name` wrapper (a `defineProperty` call, and a property array on the closure), which costs the
 * closure-heavy side (the library) more than the baselines and is not what users run. Child
 * processes forked by the benchmark inherit the flag.
 */
import { register } from 'node:module'

register('./loader-hooks.mjs', import.meta.url)
