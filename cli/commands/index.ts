import type { Command } from 'commander';

/** Each subcommand module exports one `register(program)`. Order here is the order in --help. */
export const commands: Array<(program: Command) => void> = [];
