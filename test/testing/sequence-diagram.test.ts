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
      '  c->>p: t1 prepare {"x":1}',
      '  p-xc: t1 vote yes',
      '  Note over c: crash  restart  2',
      '  q->>c: t1 ack (heuristic abort)',
    ])
  })
})
