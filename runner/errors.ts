/**
 * The runner's catalogue of errors, in the manner of fastify's lib/errors.js: one class per
 * failure, each with a stable `code` for logs and tests (never match on message text) and, where
 * it ends the process, the exit code it ends it with. Wire failures are protocol/'s
 * ProtocolError, which carries the code it sends.
 */
import { EXIT } from './exit.js';

/** A bad command line; the CLI prints the message and the usage, and exits with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'TSGI_USAGE';
  readonly exit = EXIT.USAGE;
}

/** Why an app could not be loaded; the worker (and then the master) exits with status 3. */
export class AppLoadError extends Error {
  override readonly name = 'AppLoadError';
  readonly code = 'TSGI_APP_LOAD';
  readonly exit = EXIT.APP_LOAD;
}

/**
 * Listening (or chowning the socket) failed for a reason the operator must fix: a live runner
 * on the socket, a file in the way, an address in use. Exit status 4.
 */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly code = 'TSGI_LISTEN';
  readonly exit = EXIT.LISTEN;
}

/** The runner's own files are incomplete (the Python worker's sources are missing): exit 1. */
export class InstallError extends Error {
  override readonly name = 'InstallError';
  readonly code = 'TSGI_INSTALL';
  readonly exit = EXIT.FAILURE;
}

/** A user or group that cannot be resolved, or privileges that cannot be dropped (exit 1). */
export class PrivilegeError extends Error {
  override readonly name = 'PrivilegeError';
  readonly code = 'TSGI_PRIVILEGE';
  readonly exit = EXIT.FAILURE;
}

/**
 * An application broke the contract (bad status, headers, chunk type...): a 500 before the
 * head was sent, an aborted response (CANCEL APP_ERROR) after it. The process goes on.
 */
export class ContractError extends Error {
  override readonly name = 'ContractError';
  readonly code = 'TSGI_CONTRACT';
}
