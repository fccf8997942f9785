import { describe, expect, it } from 'vitest'
import type { Message } from '../../src/index.js'
import { sequenceDiagram } from '../../src/testing/sequence-diagram.js'

const message = (fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message =>
  ({ v: 1, txId: 't1', ...fields }) as Message

describe('sequenceDiagram', () => {
  it('draws each message as an arrow, lost ones crossed, with notes, in the given node order', () => {
    const diagram = sequenceDiagram(
      [
        {
          kind: 'message',
          message: message({
            type: 'prepare',
            from: 'c',
            to: 'p',
            payload: { x: 1 },
            participants: ['p'],
            onePhase: true,
          }),
        },
        { kind: 'message', message: message({ type: 'vote', from: 'p', to: 'c', vote: 'yes' }), lost: true },
        { kind: 'note', node: 'c', text: 'crash; restart #2' },
        { kind: 'message', message: message({ type: 'ack', from: 'q', to: 'c', heuristic: 'abort' }) },
      ],
      ['c', 'p'],
    )
    expect(diagram.split('\n')).toEqual([
      'sequenceDiagram',
      '  participant c',
      '  participant p',
      '  participant q',
      '  c->>p: t1 prepare(1pc) {"x":1}',
      '  p-xc: t1 vote yes',
      '  Note over c: crash  restart  2',
      '  q->>c: t1 ack (heuristic abort)',
    ])
  })
  // Found by review: a refusal read as `vote no` and a probe as a plain prepare, so the demo's diagram
  // showed every bank voting no on a transaction that then committed; and ids were written as is.
  it('labels probes and refusals, and draws ids Mermaid cannot take through aliases', () => {
    const diagram = sequenceDiagram([
      {
        kind: 'message',
        message: message({
          type: 'prepare',
          from: 'coord',
          to: 'bank a',
          payload: 1,
          participants: ['bank a'],
          onePhase: false,
          inc: 0,
        }),
      },
      {
        kind: 'message',
        message: message({ type: 'vote', from: 'bank a', to: 'coord', vote: 'no', refused: 0 }),
      },
      { kind: 'note', node: 'end', text: 'crash' },
      { kind: 'message', message: message({ type: 'commit', from: 'coord', to: 'bank-b;x' }) },
    ])
    expect(diagram.split('\n')).toEqual([
      'sequenceDiagram',
      '  participant coord',
      '  participant node1 as bank a',
      '  participant node2 as end',
      '  participant node3 as bank-b x',
      '  coord->>node1: t1 prepare(probe) 1',
      '  node1->>coord: t1 vote refused',
      '  Note over node2: crash',
      '  coord->>node3: t1 commit',
    ])
  })

  it('never gives an alias a real id, and aliases ids Mermaid would read as an arrow', () => {
    const diagram = sequenceDiagram([
      { kind: 'message', message: message({ type: 'commit', from: 'a b', to: 'node1' }) },
      { kind: 'message', message: message({ type: 'commit', from: 'bank-x', to: ';' }) },
    ])
    expect(diagram.split('\n').slice(0, 5)).toEqual([
      'sequenceDiagram',
      '  participant node2 as a b',
      '  participant node1',
      '  participant node3 as bank-x',
      '  participant node4',
    ])
  })
})
