/**
 * Where a benchmark server listens, from its one argument: a port on 127.0.0.1, or
 * `unix:/path` (the backends behind nginx and @fastify/http-proxy).
 */
export type ListenAt = { port: number; host: '127.0.0.1' } | { path: string };

export function listenArg(script: string, arg: string | undefined): ListenAt {
  if (arg?.startsWith('unix:') && arg.length > 5) return { path: arg.slice(5) };
  const port = Number(arg);
  if (Number.isInteger(port) && port > 0 && port < 65536) return { port, host: '127.0.0.1' };
  process.stderr.write(`usage: ${script} PORT|unix:PATH\n`);
  process.exit(2);
}

/** Idle keep-alive connections stay open this long (the idle scenario holds them; nginx: 75 s). */
export const KEEP_ALIVE_MS = 120_000;
