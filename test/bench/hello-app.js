// The tsgi side of the hello-world benchmark: the same 12-byte text/plain answer that
// node-hello.ts and fastify-hello.ts give directly.
export default (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '12']]);
  return ['Hello World!'];
};
