#!/usr/bin/env node
// `maestro …` on the PATH (npm link / npx maestro): runs the TypeScript CLI through tsx, no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exit(await main(process.argv.slice(2)));
