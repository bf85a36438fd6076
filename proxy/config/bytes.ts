/**
 * Config text is UTF-8; request data (paths, headers) reaches the proxy as byte strings, one
 * char per byte (latin-1), and the environ is made of byte strings too. Values that are
 * compared with request data or sent in the environ are converted to that form once, at load:
 * `location /café/` then matches the bytes of a request for /caf%C3%A9/, and a tsgi_param value
 * `é` reaches the app as the two bytes of its UTF-8, as nginx would send them.
 */
export function toByteString(text: string): string {
  // Pure ASCII is already its own byte string (the common case: no copy).
  return /^[\x00-\x7f]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}
