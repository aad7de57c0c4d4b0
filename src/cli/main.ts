#!/usr/bin/env node
// The olm-mirror command line: parses flags and hands over to the library.
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { catalogBuildCommand } from './catalog-build.js';
import { catalogListCommand } from './catalog-list.js';
import { catalogMirrorCommand } from './catalog-mirror.js';
import { ExitCode, reportFatal, UsageError } from './common.js';
import { imageMirrorCommand } from './image-mirror.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('olm-mirror')
    .description('Mirror OLM operator catalogs and the images they reference into registries that disconnected clusters can reach.')
    .version(version);

  const image = program.command('image').description('copy container images between registries');
  image.addCommand(imageMirrorCommand());

  const catalog = program.command('catalog').description('read, build and mirror operator catalogs');
  catalog.addCommand(catalogMirrorCommand());
  catalog.addCommand(catalogBuildCommand());
  catalog.addCommand(catalogListCommand());
  applyToAll(program, (cmd) => cmd.exitOverride().showHelpAfterError());
  return program;
}

// addCommand() does not pass settings down, so set them on the whole tree.
function applyToAll(cmd: Command, apply: (c: Command) => void): void {
  apply(cmd);
  for (const sub of cmd.commands) applyToAll(sub, apply);
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? ExitCode.Ok : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; bad flags with commander's own message already printed.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    reportFatal(err);
    return err instanceof UsageError ? ExitCode.Usage : ExitCode.Failed;
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
