#!/usr/bin/env node
import { TokenApiError } from './token-client.js';
import { tokenCommand, TOKEN_USAGE, UsageError } from './token-command.js';

const USAGE = `Usage: mqbridge <command>

Commands:
  token   apply, query, revoke and inspect device tokens through a bridge's token API

${TOKEN_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'token') {
    (command && command !== '--help' && command !== '-h' ? process.stderr : process.stdout).write(`${USAGE}\n`);
    return command && command !== '--help' && command !== '-h' ? 2 : 0;
  }
  try {
    process.stdout.write(`${await tokenCommand(rest)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mqbridge token: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`mqbridge token: ${err instanceof TokenApiError ? err.message : (err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
