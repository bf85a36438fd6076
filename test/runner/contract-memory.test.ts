/**
 * runner/apps/contract.ts — an async iterable's chunks are not kept alive by the stream: each step's
 * wait for a cancel must let go of the chunk once the step is done.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import type { Header } from '../../runner/apps/app.js';
import { runApplication, type ResponseSink } from '../../runner/apps/contract.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Takes every chunk at once and keeps nothing; never cancelled while the response runs. */
class DiscardingSink implements ResponseSink {
  cancelled = false;
  readonly whenCancelled = new Promise<void>(() => undefined);
  bytes = 0;
  ended = false;
  sendHead(_status: number, _reason: string, _headers: Header[]): void {}
  write(chunk: Uint8Array): undefined {
    this.bytes += chunk.length;
  }
  end(): void {
    this.ended = true;
  }
  abort(): void {}
}

t.test('chunks already sent are collectable while the response goes on', async (t) => {
  const refs: WeakRef<Uint8Array>[] = [];
  let collected = -1;
  const sink = new DiscardingSink();
  const outcome = await runApplication(
    (_environ, startResponse) => {
      startResponse('200 OK', []);
      return (async function* () {
        for (let i = 0; i < 20; i++) {
          const chunk = new Uint8Array(1024);
          refs.push(new WeakRef(chunk));
          yield chunk;
        }
        // Still inside the response: the stream (and its whenCancelled) is alive.
        await new Promise((resolve) => setTimeout(resolve, 10));
        gc();
        collected = refs.slice(0, 19).filter((ref) => ref.deref() === undefined).length;
      })();
    },
    {},
    sink,
    { error: () => undefined },
  );
  t.equal(outcome, 'ok');
  t.equal(sink.bytes, 20 * 1024);
  // The last step or two may still be referenced by the generator's own promises.
  t.ok(collected >= 17, `the chunks already sent were collected before the end (${collected} of 19)`);
});
