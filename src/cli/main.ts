#!/usr/bin/env node
// The olm-mirror command line: parses flags and hands over to the library.
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { exitCodeFor } from '../errors.js';
import { ExitCode, reportFatal } from './common.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

type CommandLoader = () => Promise<Command>;

// Commands are loaded only when asked for: a re-run of `image mirror` should not pay for loading
// the SQLite, YAML and tar code of the catalog commands.
const GROUPS: Record<string, { description: string; commands: Record<string, CommandLoader> }> = {
  image: {
    description: 'copy container images between registries',
    commands: {
      mirror: async () => (await import('./image-mirror.js')).imageMirrorCommand(),
    },
  },
  catalog: {
    description: 'read, build and mirror operator catalogs',
    commands: {
      mirror: async () => (await import('./catalog-mirror.js')).catalogMirrorCommand(),
      build: async () => (await import('./catalog-build.js')).catalogBuildCommand(),
      list: async () => (await import('./catalog-list.js')).catalogListCommand(),
    },
  },
};

/** Commands of their own, outside any group. */
const TOP_LEVEL: Record<string, CommandLoader> = {
  verify: async () => (await import('./verify.js')).verifyCommand(),
};

/** The program with the commands `argv` names, or with all of them when it names none (help). */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('olm-mirror')
    .description('Mirror OLM operator catalogs and the images they reference into registries that disconnected clusters can reach.')
    .version(version);
  const [groupName, commandName] = argv.slice(2);
  const chosenGroup = groupName !== undefined ? GROUPS[groupName] : undefined;
  const chosenTop = groupName !== undefined ? TOP_LEVEL[groupName] : undefined;
  for (const load of chosenTop !== undefined ? [chosenTop] : chosenGroup !== undefined ? [] : Object.values(TOP_LEVEL)) {
    program.addCommand(await load());
  }
  for (const [name, group] of Object.entries(GROUPS)) {
    const parent = program.command(name).description(group.description);
    if (chosenTop !== undefined || (chosenGroup !== undefined && group !== chosenGroup)) continue;
    const chosen = commandName !== undefined ? group.commands[commandName] : undefined;
    for (const load of chosen !== undefined ? [chosen] : Object.values(group.commands)) parent.addCommand(await load());
  }
  applyToAll(program, (cmd) => cmd.exitOverride().showHelpAfterError());
  return program;
}

// addCommand() does not pass settings down, so set them on the whole tree.
function applyToAll(cmd: Command, apply: (c: Command) => void): void {
  apply(cmd);
  for (const sub of cmd.commands) applyToAll(sub, apply);
}

async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? ExitCode.Ok : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; bad flags with commander's own message already printed.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    reportFatal(err);
    return exitCodeFor(err);
  }
}

// `olm-mirror ... | head` closes the pipe early: that is no error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? ExitCode.Ok);
  });
}

process.exitCode = await main(process.argv);
