import t from 'tap';
import { Command } from 'commander';
import { register as registerTokens } from '../../../cli/commands/tokens.js';
import { register as registerCassandra } from '../../../cli/commands/cassandra.js';

async function cli(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const program = new Command('sipflow').option('-c, --config <file>').option('-l, --log-level <level>').exitOverride();
  registerTokens(program);
  registerCassandra(program);
  let out = '';
  let err = '';
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'sipflow', ...args]);
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { out, err, code };
}

t.test('sipflow tokens --json prints the seed\'s tokens for --partitioner random', async (t) => {
  const r = await cli(['tokens', '--dcs', '2', '--nodes-per-dc', '2', '--partitioner', 'random', '--json']);
  t.equal(r.code, 0);
  const doc = JSON.parse(r.out) as { nodes: Array<{ token: string }> };
  t.strictSame(doc.nodes.map((n) => n.token), ['0', '85070591730234615865843651857942052864', '1', '85070591730234615865843651857942052865']);
});

t.test('sipflow tokens refuses a bad count with one line and exit code 2', async (t) => {
  const r = await cli(['tokens', '--dcs', '0']);
  t.equal(r.code, 2);
  t.match(r.err, /^sipflow: --dcs: /);
});

t.test('sipflow cassandra status --json lists the single node and the ring nodes', async (t) => {
  const r = await cli(['cassandra', 'status', '--json']);
  t.equal(r.code, 0);
  const rows = JSON.parse(r.out) as Array<{ node: string; ip: string; running: boolean }>;
  t.strictSame(rows.map((x) => x.ip), ['127.0.0.2', '127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14']);
});
