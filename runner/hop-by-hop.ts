/**
 * Fields that describe one connection, not the response (RFC 9110 §7.6.1): PEP 3333 forbids a
 * WSGI app to send them (runner/contract.ts refuses them) and the proxy refuses a head carrying
 * one. Fetch handlers and Node listeners are another matter: frameworks set them routinely
 * (Hono's stream() sets Transfer-Encoding: chunked, streamSSE() Connection: keep-alive) and
 * node:http writes its own, because on their usual servers the transport owns them. The
 * adapters drop them, as a fetch server does; tsgi's transport decides the framing.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}
