/**
 * One clock timer per node for all its deadlines (issue 14): order, ties, replacement, clearing,
 * and the number of clock timers it arms, on a manual clock.
 */
import { describe, expect, test } from 'vitest'
import { Deadlines } from '../../src/runtime/deadlines.js'
import { ManualClock } from '../support/manual-clock.js'

describe('Deadlines', () => {
  test('deadlines fire in time order, ties in the order they were set, each once', () => {
    const clock = new ManualClock()
    const deadlines = new Deadlines(clock)
    const fired: string[] = []
    deadlines.set('t', 'c', 30, () => fired.push('c'))
    deadlines.set('t', 'a', 10, () => fired.push('a'))
    deadlines.set('t', 'b1', 20, () => fired.push('b1'))
    deadlines.set('t', 'b2', 20, () => fired.push('b2'))
    clock.advanceTo(25)
    expect(fired).toEqual(['a', 'b1', 'b2'])
    clock.advanceTo(100)
    expect(fired).toEqual(['a', 'b1', 'b2', 'c'])
    expect(deadlines.size).toBe(0)
    expect(clock.pending).toBe(0)
  })

  test('setting a key (kind, id) again replaces its deadline, and a cleared one never fires', () => {
    const clock = new ManualClock()
    const deadlines = new Deadlines(clock)
    const fired: string[] = []
    deadlines.set('retransmit', 't1', 10, () => fired.push('first'))
    deadlines.set('retransmit', 't1', 50, (id) => fired.push(`second ${id}`))
    deadlines.set('prepare-timeout', 't1', 20, () => fired.push('timeout'))
    deadlines.set('prepare-timeout', 't2', 30, (id) => fired.push(`timeout ${id}`))
    expect(deadlines.size).toBe(3)
    deadlines.clear('prepare-timeout', 't1')
    expect(deadlines.size).toBe(2)
    clock.advanceTo(40)
    expect(fired).toEqual(['timeout t2'])
    clock.advanceTo(50)
    expect(fired).toEqual(['timeout t2', 'second t1'])
    expect(deadlines.size).toBe(0)
  })

  test('a thousand transactions’ timers arm one clock timer at a time, not one each', () => {
    const clock = new ManualClock()
    const deadlines = new Deadlines(clock)
    let fired = 0
    for (let tx = 0; tx < 1000; tx++) {
      deadlines.set('prepare-timeout', `${tx}`, 5000, () => {})
      deadlines.set('retransmit', `${tx}`, 100 + tx, () => {
        fired += 1
      })
    }
    // Two clock timers in all: the first prepare timeout's, then the earlier first retransmission's.
    expect(clock.armed).toBe(2)
    for (let tx = 0; tx < 1000; tx++) deadlines.clear('prepare-timeout', `${tx}`)
    clock.advanceTo(1099)
    expect(fired).toBe(1000)
    expect(clock.pending).toBe(0)
    // Each firing armed the next one: at most one per deadline that fired, never more.
    expect(clock.armed).toBeLessThanOrEqual(1002)
  })

  test('an earlier deadline re-arms the clock timer; clearAll disarms it', () => {
    const clock = new ManualClock()
    const deadlines = new Deadlines(clock)
    deadlines.set('t', 'late', 1000, () => {})
    deadlines.set('t', 'soon', 10, () => {})
    expect(clock.armed).toBe(2)
    expect(clock.cleared).toBe(1)
    deadlines.clearAll()
    expect(clock.pending).toBe(0)
    expect(deadlines.size).toBe(0)
  })

  test('cleared deadlines do not pile up in memory', () => {
    const clock = new ManualClock()
    const deadlines = new Deadlines(clock)
    for (let tx = 0; tx < 10_000; tx++) {
      deadlines.set('prepare-timeout', `${tx}`, 5000, () => {})
      deadlines.clear('prepare-timeout', `${tx}`)
    }
    expect(deadlines.size).toBe(0)
    expect((deadlines as unknown as { heap: unknown[] }).heap.length).toBeLessThanOrEqual(64 + 1)
  })
})
