/** Every system the bench knows, in report order; node:http direct is the baseline. */
import { nginxGunicorn, nginxNode, nginxUwsgi, nginxUwsgiDefaults, nginxUwsgiThreads } from './nginx.js';
import { fastify, fastifyProxy, nodeHttp, pythonFloor, tsgi, tsgiBuffered, tsgiLogged, tsgiNodeHttp, tsgiPython, tsgiPythonThreads, tsgiStreamed, tsgiTwoCores, type System } from './systems.js';

export const BASELINE = nodeHttp.name;

/** The systems of the scenario comparison. */
export const SYSTEMS: readonly System[] = [nodeHttp, fastify, tsgi, tsgiLogged, tsgiNodeHttp, tsgiBuffered, tsgiStreamed, tsgiPython, tsgiPythonThreads, pythonFloor, fastifyProxy, nginxUwsgi, nginxUwsgiDefaults, nginxUwsgiThreads, nginxNode, nginxGunicorn];

/** The scaling section: tsgi on the server CPU, then on both. */
export const SCALING_SYSTEMS: readonly System[] = [tsgi, tsgiTwoCores];
