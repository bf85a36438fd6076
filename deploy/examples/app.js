// The demo application that `npm start` serves: a plain tsgi app (PEP 3333 in JavaScript).
// Routes: /            hello
//         /echo        the request body sent back (POST, any size, streamed)
//         /stream      a response produced over time by an async generator
//         /environ     the environ the app received, as JSON

const encoder = new TextEncoder();

export default function app(environ, startResponse) {
  switch (environ.PATH_INFO) {
    case '/':
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
      return ['Hello from tsgi!\n'];
    case '/echo':
      return echo(environ, startResponse);
    case '/stream':
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
      return countdown(Number(new URLSearchParams(environ.QUERY_STRING).get('n') ?? 5));
    case '/environ':
      startResponse('200 OK', [['Content-Type', 'application/json']]);
      return [JSON.stringify(visible(environ), null, 2) + '\n'];
    default:
      startResponse('404 Not Found', [['Content-Type', 'text/plain; charset=utf-8']]);
      return [`No route for ${environ.PATH_INFO}\n`];
  }
}

// Streams the body back as it arrives: the generator pulls from wsgi.input only as fast as
// the client reads the response, so neither side buffers the whole body.
function echo(environ, startResponse) {
  const headers = [['Content-Type', environ.CONTENT_TYPE || 'application/octet-stream']];
  if (environ.CONTENT_LENGTH) headers.push(['Content-Length', environ.CONTENT_LENGTH]);
  startResponse('200 OK', headers);
  return environ['wsgi.input'];
}

async function* countdown(n) {
  const count = Math.min(Math.max(Number.isFinite(n) ? n : 5, 1), 100);
  for (let i = count; i > 0; i--) {
    yield encoder.encode(`${i}...\n`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  yield 'liftoff\n';
}

function visible(environ) {
  return Object.fromEntries(Object.entries(environ).filter(([, value]) => typeof value !== 'object'));
}
