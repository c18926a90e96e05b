import t from 'tap';
import { ClosedLoop, compareWithFloor } from '../../../bench/harness/closed-loop.js';

/** A loop whose rounds return scripted figures and log who ran when. */
class ScriptedLoop extends ClosedLoop {
  readonly #figures: number[];
  readonly #log: string[];
  readonly #name: string;

  constructor(name: string, figures: number[], log: string[]) {
    super(1);
    this.#name = name;
    this.#figures = figures;
    this.#log = log;
  }

  override async round(n: number): Promise<number> {
    this.#log.push(`${this.#name}:${n}`);
    return this.#figures.shift() ?? Number.NaN;
  }

  close(): void {}

  protected send(): void {}
}

t.test('compareWithFloor: warm-up, then the nodes swap places each round and the floor closes it', async (t) => {
  const log: string[] = [];
  // First figure of each list is its warm-up, which must not count.
  const mine = new ScriptedLoop('mine', [999, 30, 34, 31], log);
  const baseline = new ScriptedLoop('baseline', [999, 29, 35, 33], log);
  const floor = new ScriptedLoop('floor', [999, 20, 22, 21], log);
  const r = await compareWithFloor({ mine, baseline, floor }, { runs: 3, count: 100, warmup: { node: 50, floor: 40 } });
  t.strictSame(log, [
    'mine:50', 'baseline:50', 'floor:40',
    'mine:100', 'baseline:100', 'floor:100',
    'baseline:100', 'mine:100', 'floor:100',
    'mine:100', 'baseline:100', 'floor:100',
  ]);
  t.strictSame(r.mine, [30, 31, 34], 'sorted, warm-up left out');
  t.strictSame(r.floor, [20, 21, 22]);
  t.equal(r.work, 31 - 21, 'median of the node − median of the floor');
  // Per round: 30−29 = 1, 34−35 = −1, 31−33 = −2: the median is −1 (the medians' difference would be −2).
  t.strictSame(r.baseline, { mine: [29, 33, 35], work: 33 - 21, difference: -1 });
});

t.test('compareWithFloor without a baseline measures the node and the floor only', async (t) => {
  const log: string[] = [];
  const r = await compareWithFloor(
    { mine: new ScriptedLoop('mine', [0, 12.344, 11], log), floor: new ScriptedLoop('floor', [0, 5, 6], log) },
    { runs: 2, count: 10, warmup: { node: 10, floor: 10 } },
  );
  t.strictSame(log, ['mine:10', 'floor:10', 'mine:10', 'floor:10', 'mine:10', 'floor:10']);
  t.strictSame(r.mine, [11, 12.34], 'rounded to hundredths');
  t.equal(r.work, 12.34 - 6);
  t.equal(r.baseline, undefined);
});
