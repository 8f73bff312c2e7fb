import { describe, expect, it } from 'vitest';
import { jsonText } from '../src/util/json-text.js';

describe('jsonText', () => {
  const value = {
    name: 'x',
    mean: [0.5, -1.25e-7, 3, -4e21, 0],
    components: [
      [1, 2],
      [-3.5, 4e-9],
    ],
    labels: ['a', 'b'],
    mixed: [1, 'two', { three: [3] }],
    empty: [],
    nested: { deep: { numbers: [7, 8, 9] } },
  };
  const text = jsonText(value);

  it('parses back to the same value', () => {
    expect(JSON.parse(text)).toEqual(value);
  });

  it('keeps an array of numbers on one line, anything else indented as JSON.stringify does', () => {
    expect(text).toContain('"mean": [0.5, -1.25e-7, 3, -4e+21, 0]');
    expect(text).toContain('"components": [\n    [1, 2],\n    [-3.5, 4e-9]\n  ]');
    expect(text).toContain('"numbers": [7, 8, 9]');
    expect(text).toContain('"labels": [\n    "a",\n    "b"\n  ]');
    expect(text).toContain('"mixed": [\n    1,\n    "two",\n    {\n      "three": [3]\n    }\n  ]');
    expect(text).toContain('"empty": []');
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('leaves strings that look like number lists alone', () => {
    const tricky = { s: '[\n  1,\n  2\n]' };
    expect(JSON.parse(jsonText(tricky))).toEqual(tricky);
  });
});
