/**
 * The helper process of multi-accept.ts: receives a listening socket's handle over its IPC
 * channel and sends it back as many times as its argument says (each passing gives the proxy
 * a descriptor of its own), then ends when the proxy lets go of the channel. The handle comes
 * raw, not as a server: nothing here listens, so no connection is ever accepted here.
 */
const count = Number(process.argv[2]);

process.once('message', (_message: unknown, handle: unknown) => {
  if (typeof handle !== 'object' || handle === null || !Number.isInteger(count) || count < 1) return process.exit(2);
  for (let i = 0; i < count; i++) process.send?.('copy', handle as Parameters<NonNullable<typeof process.send>>[1]);
  process.once('disconnect', () => process.exit(0));
});
