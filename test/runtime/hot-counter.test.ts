import t from 'tap';
import { Registry } from 'prom-client';
import { HotCounter } from '../../runtime/hot-counter.js';

t.test('counts taken on the hot path are what a scrape and get() report', async (t) => {
  const registry = new Registry();
  const c = new HotCounter({ name: 'x_total', help: 'x', labelNames: ['side', 'type'] as const, registers: [registry] });
  for (let i = 0; i < 5; i++) c.inc({ side: 'ws', type: 'REGISTER' });
  c.inc({ type: 'REGISTER', side: 'ws' }, 2);
  c.inc({ side: 'tcp', type: '2xx' });
  const text = await registry.metrics();
  t.match(text, /x_total\{side="ws",type="REGISTER"\} 7/);
  t.match(text, /x_total\{side="tcp",type="2xx"\} 1/);
  c.inc({ side: 'ws', type: 'REGISTER' });
  const values = (await c.get()).values;
  t.equal(values.find((v) => v.labels.side === 'ws')?.value, 8, 'counts after a read keep adding up');
});

t.test('a label combination prom-client refuses is refused on its first use; bad values are refused as prom-client does', async (t) => {
  const c = new HotCounter({ name: 'y_total', help: 'y', labelNames: ['side'] as const, registers: [] });
  t.throws(() => c.inc({ nope: 'x' } as never), 'unknown label name');
  t.throws(() => c.inc({ side: 'a' }, -1), 'a counter does not go down');
  c.inc(3);
  t.equal((await c.get()).values.find((v) => Object.keys(v.labels).length === 0)?.value, 3, 'unlabelled counts too');
  c.reset();
  c.inc({ side: 'a' });
  t.same((await c.get()).values.map((v) => v.value), [1], 'reset drops what was counted and not yet read');
});

t.test('every combination of three labels keeps its own count', async (t) => {
  const registry = new Registry();
  const c = new HotCounter({ name: 'z_total', help: 'z', labelNames: ['a', 'b', 'c'] as const, registers: [registry] });
  const combos: [string, string, string][] = [];
  for (const a of ['1', '2']) for (const b of ['x', 'y']) for (const cc of ['p', 'q', 'r']) combos.push([a, b, cc]);
  combos.forEach(([a, b, cc], i) => {
    for (let k = 0; k <= i; k++) c.inc({ a, b, c: cc });
  });
  const values = (await c.get()).values;
  t.equal(values.length, combos.length);
  combos.forEach(([a, b, cc], i) => {
    t.equal(values.find((v) => v.labels.a === a && v.labels.b === b && v.labels.c === cc)?.value, i + 1, `${a} ${b} ${cc}`);
  });
});
