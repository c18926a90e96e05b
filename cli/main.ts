/** `sipflow`: one binary for every role. Subcommands register themselves from cli/commands/. */
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { commands } from './commands/index.js';

const require = createRequire(import.meta.url);
const pkg = require('../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('sipflow')
    .description('WebRTC-to-SIP edge gateway cluster: WebSocket edges, core proxies/registrars, registrations in Cassandra')
    .version(pkg.version)
    .option('-c, --config <file>', 'config file (YAML or JSON) with a section per role; env SIPFLOW_CONFIG')
    .option('-l, --log-level <level>', 'fatal|error|warn|info|debug|trace|silent; env SIPFLOW_LOG_LEVEL')
    .showHelpAfterError('(run with --help for usage)');
  program.configureOutput({ outputError: (str, write) => write(`sipflow: ${str.replace(/^error: /, '')}`) });
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  if (!args.slice(2).some((a) => a === '-c' || a === '--config') && process.env.SIPFLOW_CONFIG) {
    args.push('--config', process.env.SIPFLOW_CONFIG);
  }
  await buildProgram().parseAsync(args);
}
