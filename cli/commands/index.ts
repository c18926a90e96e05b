import type { Command } from 'commander';
import { register as core } from './core.js';
import { register as edge } from './edge.js';
import { register as cluster } from './cluster.js';
import { register as user } from './user.js';
import { register as cassandra } from './cassandra.js';
import { register as tokens } from './tokens.js';
import { register as config } from './config.js';

/** Each subcommand module exports one `register(program)`. Order here is the order in --help. */
export const commands: Array<(program: Command) => void> = [cluster, core, edge, user, cassandra, tokens, config];
