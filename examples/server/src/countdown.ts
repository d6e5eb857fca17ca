/**
 * `countdown` on the 2026-07-28 era, a durable task for clients that declare the Tasks extension
 * (`io.modelcontextprotocol/tasks`): its statusMessage follows the count; with `confirm: true` it
 * asks the client (`input_required`, answered with `tasks/update`) after the first step. A client
 * without the extension gets the same result from `tools/call`, one log notification per step.
 * Counting again from the start is harmless, so it is declared safe to run again: when its
 * instance dies mid-count, another instance counts it again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TasksExtension } from '@mcp-sessions/core/http';
import { inputRequired } from '@modelcontextprotocol/server';
import { z } from 'zod';

export function registerCountdown(tasks: TasksExtension): void {
  tasks.registerTool(
    'countdown',
    {
      description:
        'Count down from `from`, a step every `intervalMs`. As a task its statusMessage follows the count; `confirm: true` asks before going on',
      inputSchema: z.object({
        from: z.number().int().min(1).max(1000),
        intervalMs: z.number().int().min(0).max(60_000),
        confirm: z.boolean().optional(),
      }),
      rerunnable: true,
    },
    async ({ from, intervalMs, confirm }, task) => {
      for (let n = from; n >= 1; n--) {
        await task.status(String(n));
        if (confirm && n === from && n > 1) {
          const { proceed } = await task.input({ proceed: askToProceed(from, n - 1) });
          if (!accepted(proceed)) return json({ done: false, from, stoppedAt: n });
        }
        // Rejects once the task is cancelled or handed over: the worker stops there.
        if (intervalMs > 0 && n > 1) await sleep(intervalMs, undefined, { signal: task.signal });
      }
      return json({ done: true, from });
    },
  );
}

const json = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });

function askToProceed(from: number, next: number) {
  return inputRequired.elicit({
    message: `Counting down from ${from}: go on to ${next}?`,
    requestedSchema: {
      type: 'object',
      properties: { proceed: { type: 'boolean', title: 'Go on' } },
      required: ['proceed'],
    },
  }) as unknown as Record<string, never>;
}

/** An elicitation answer that accepted with `proceed: true`. */
function accepted(response: unknown): boolean {
  const answer = response as { action?: unknown; content?: { proceed?: unknown } } | undefined;
  return answer?.action === 'accept' && answer.content?.proceed === true;
}
