/** Exit codes an operator (or a supervisor) can act on. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, APP_LOAD: 3, LISTEN: 4, TIMEOUT: 5 } as const;
