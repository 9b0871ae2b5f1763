// Kubernetes' rules for what a container runs (kubernetes.io/docs/tasks/inject-data-application/
// define-command-argument-container/#notes), with the image table standing in for the image.
import type { V1Container } from '@kubernetes/client-node';
import { expandVariables } from './variable-expansion.js';
import type { ImageSpec } from './image-table.js';

/**
 * - neither command nor args: ENTRYPOINT + CMD
 * - command only: command (ENTRYPOINT and CMD ignored)
 * - args only: ENTRYPOINT + args
 * - both: command + args
 * $(VAR) references are expanded against the container's env, then argv[0] is mapped through
 * the image's `commands` (exact name first, then basename).
 */
export function resolveContainerArgv(container: Pick<V1Container, 'command' | 'args'>, image: ImageSpec, env: Record<string, string> = {}): string[] {
  const command = container.command?.map((word) => expandVariables(word, env));
  const args = container.args?.map((word) => expandVariables(word, env));
  let argv: string[];
  if (command && command.length > 0) argv = [...command, ...(args ?? [])];
  else if (args && args.length > 0) argv = [...image.entrypoint, ...args];
  else argv = [...image.entrypoint, ...(image.cmd ?? [])];
  if (argv.length === 0) throw new Error('the container has no command and its image no entrypoint');
  const [first, ...rest] = argv as [string, ...string[]];
  const mapped = image.commands?.[first] ?? image.commands?.[first.slice(first.lastIndexOf('/') + 1)];
  return mapped ? [...mapped, ...rest] : argv;
}
