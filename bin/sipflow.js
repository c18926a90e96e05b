#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('sipflow: dist/ is missing; run `npm install` (or `npm run build`) in the sipflow folder first\n');
  process.exit(1);
}
const { main: run } = await import(main);
await run(process.argv);
