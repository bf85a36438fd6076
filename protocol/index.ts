/** The tsgi wire protocol: pure encoding, decoding and rules, no I/O. See SPEC.md. */
export * from './frame.js';
export * from './errors.js';
export * from './decoder.js';
export * from './messages.js';
export * from './flow.js';
export { pack, unpack } from './codec.js';
export * from './address.js';
export * from './writer.js';
export * from './queue.js';
export * from './peer.js';
export * from './head.js';
export * from './stream-table.js';
