import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { formatAddress } from '../../protocol/address.js';
import { AsyncQueue } from '../../protocol/queue.js';
import { listenQueue, type ListenQueue } from './backlog.js';
import { EXIT } from '../exit.js';
import { BEAT_MS, WORKERS_ENV, WORKER_ENV, isFromWorker, type FromWorker, type ToWorker } from './ipc.js';
import type { SharedSocket } from '../serving/listen.js';
import type { InFlight, WorkerCounters } from '../serving/metrics.js';
import { notifySystemd } from './notify.js';
import type { RunnerOptions } from '../options.js';
import { spawnPythonWorker } from './python-worker.js';
import { SignalQueue } from './signals.js';
import { withAllocatorTunables } from './allocator.js';
import { workerExecArgv } from './master-flags.js';

/** The signals the master acts on; their handlers only record them (SignalQueue). */
export const MASTER_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU'];

/** How often the loop looks at deadlines (harakiri, respawn backoff, stop timeout). */
const TICK_MS = 100;
/** Crashes counted for the backoff are those of the last BACKOFF_WINDOW_MS. */
const BACKOFF_WINDOW_MS = 10_000;
const BACKOFF_MAX_MS = 5_000;
/** A fast stop kills the workers still there after this long. */
const QUIT_GRACE_MS = 2_000;

type State = 'booting' | 'ready' | 'draining';

interface Worker {
  index: number;
  child: ChildProcess;
  pid: number;
  generation: number;
  state: State;
  spawnedAt: number;
  lastBeat: number;
  counters: WorkerCounters;
  inFlight: Map<string, InFlight>;
  /** The worker this one replaces once ready (recycling). */
  replaces: Worker | null;
  /** A replacement for this worker is on its way. */
  recycling: boolean;
  killedBy: 'harakiri' | 'stop' | null;
}

type Event =
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'message'; worker: Worker; message: FromWorker }
  | { kind: 'exit'; worker: Worker; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'tick' };

/** What the stats server shows of the master and each worker. */
export interface MasterStats {
  pid: number;
  uptimeMs: number;
  restarts: number;
  /** The socket's accept queue, where the OS reports it (uWSGI's listen queue). */
  listenQueue: ListenQueue | null;
  workers: Array<{ index: number; pid: number; status: State; lastSpawn: number } & WorkerCounters>;
}

/**
 * The master, after gunicorn's arbiter: signal handlers and child events only enqueue; one
 * loop takes them in order and acts (`onSignal`, `onMessage`, `onExit`, `onTick`). It never
 * accepts a connection: the workers listen on the socket it bound.
 */
export class Master {
  private readonly workers = new Set<Worker>();
  private readonly events = new AsyncQueue<Event>();
  private target: number;
  private generation = 0;
  private announced = false;
  private reloading = false;
  private stopping: 'drain' | 'quit' | null = null;
  private stopDeadline = 0;
  private exitCode: number = EXIT.OK;
  private restarts = 0;
  private crashes: number[] = [];
  /** Indices waiting for a respawn, with the time it may happen. */
  private readonly respawns = new Map<number, { at: number; replaces: Worker | null }>();
  private readonly startedAt = Date.now();

  constructor(
    private readonly options: RunnerOptions,
    private readonly socket: SharedSocket,
    private readonly log: Logger,
    private readonly argv: readonly string[],
  ) {
    this.target = options.workers;
  }

  async run(signals: SignalQueue): Promise<number> {
    const pump = async () => {
      for (;;) this.push({ kind: 'signal', signal: await signals.next() });
    };
    void pump();
    for (let index = 1; index <= this.target; index++) this.spawn(index, null);
    try {
      for (;;) {
        this.tickWhileTimed();
        const event = await this.events.next();
        this.dispatch(event);
        if (this.stopping && this.workers.size === 0) return this.exitCode;
      }
    } finally {
      if (this.ticker) clearInterval(this.ticker);
    }
  }

  private ticker: NodeJS.Timeout | null = null;

  /**
   * The tick runs only while something is timed (onTick): a stop's deadline, a respawn's delay,
   * a harakiri deadline. An idle runner's master then sleeps until a worker or a signal wakes it,
   * instead of ten times a second.
   */
  private tickWhileTimed(): void {
    const timed = this.stopping !== null || this.respawns.size > 0 || this.options.harakiriMs > 0;
    if (timed && !this.ticker) this.ticker = setInterval(() => this.push({ kind: 'tick' }), TICK_MS);
    else if (!timed && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  stats(): MasterStats {
    const now = Date.now();
    return {
      pid: process.pid,
      uptimeMs: now - this.startedAt,
      restarts: this.restarts,
      listenQueue: listenQueue(this.options.address),
      workers: [...this.workers]
        .sort((a, b) => a.index - b.index || a.spawnedAt - b.spawnedAt)
        .map((w) => ({ index: w.index, pid: w.pid, status: w.state, lastSpawn: w.spawnedAt, ...w.counters })),
    };
  }

  // ---- the loop ----

  private push(event: Event): void {
    this.events.push(event);
  }

  private dispatch(event: Event): void {
    switch (event.kind) {
      case 'signal':
        return this.onSignal(event.signal);
      case 'message':
        return this.onMessage(event.worker, event.message);
      case 'exit':
        return this.onExit(event.worker, event.code, event.signal);
      case 'tick':
        return this.onTick();
    }
  }

  // ---- signals ----

  private onSignal(signal: NodeJS.Signals): void {
    this.log.info({ signal }, 'signal');
    switch (signal) {
      case 'SIGTERM':
        // A second SIGTERM while draining means "now".
        return this.stop(this.stopping ? 'quit' : 'drain');
      case 'SIGINT':
      case 'SIGQUIT':
        return this.stop('quit');
      case 'SIGHUP':
        return this.reload();
      case 'SIGTTIN':
        return this.resize(this.target + 1);
      case 'SIGTTOU':
        return this.resize(this.target - 1);
      default:
        return;
    }
  }

  private stop(how: 'drain' | 'quit'): void {
    if (this.stopping === 'quit' || this.stopping === how) return;
    this.stopping = how;
    this.respawns.clear();
    this.log.info({ workers: this.workers.size }, how === 'drain' ? 'draining' : 'stopping now');
    this.stopDeadline = Date.now() + (how === 'drain' ? this.options.gracefulTimeoutMs + QUIT_GRACE_MS : QUIT_GRACE_MS);
    for (const worker of this.workers) this.send(worker, { t: how });
  }

  /** SIGHUP: a new generation boots; the old one drains only once all of it is ready. */
  private reload(): void {
    if (this.stopping) return;
    this.generation++;
    this.reloading = true;
    this.respawns.clear();
    this.log.info({ generation: this.generation, workers: this.target }, 'reloading');
    notifySystemd(this.log, 'RELOADING=1');
    for (let index = 1; index <= this.target; index++) this.spawn(index, null);
  }

  private resize(target: number): void {
    if (this.stopping || target < 1 || target > 512) return;
    const before = this.target;
    this.target = target;
    this.log.info({ from: before, to: target }, 'workers resized');
    if (target > before) {
      this.spawn(target, null);
      return;
    }
    for (const worker of this.current()) if (worker.index > target) this.retire(worker, 'fewer workers');
    for (const index of this.respawns.keys()) if (index > target) this.respawns.delete(index);
  }

  // ---- messages from workers ----

  private onMessage(worker: Worker, message: FromWorker): void {
    switch (message.t) {
      case 'ready':
        return this.onReady(worker);
      case 'boot-failed':
        return this.onBootFailure(worker, message.message);
      case 'beat':
        worker.lastBeat = Date.now();
        worker.counters = message.counters;
        worker.inFlight = new Map(message.inFlight.map((r) => [r.reqId, r]));
        return;
      case 'recycle':
        return this.recycle(worker, message.reason);
      case 'harakiri':
        if (message.requests.length > 0) worker.inFlight = new Map(message.requests.map((r) => [r.reqId, r]));
        if (worker.killedBy === null) this.harakiri(worker, Date.now());
        return;
    }
  }

  private onReady(worker: Worker): void {
    if (worker.state !== 'booting') return;
    worker.state = 'ready';
    worker.lastBeat = Date.now();
    this.log.debug({ worker: worker.index, workerPid: worker.pid }, 'worker ready');
    if (this.stopping) {
      this.send(worker, { t: this.stopping });
      return;
    }
    if (worker.replaces) this.retire(worker.replaces, 'replaced');
    worker.replaces = null;
    const current = this.current();
    const allReady = current.length >= this.target && current.every((w) => w.state === 'ready');
    if (this.reloading && allReady) {
      this.reloading = false;
      for (const old of this.workers) if (old.generation < this.generation) this.retire(old, 'reload');
      this.log.info({ generation: this.generation, workers: this.target }, 'reloaded');
      notifySystemd(this.log, 'READY=1');
    }
    if (!this.announced && allReady) {
      this.announced = true;
      this.log.info({ socket: formatAddress(this.options.address), app: this.options.app, workers: this.target }, 'runner ready');
      notifySystemd(this.log, 'READY=1', `STATUS=serving with ${this.target} workers`);
    }
  }

  /**
   * A worker that cannot load the app would fail again: stop with EXIT.APP_LOAD instead of
   * respawning forever. During a reload the old generation still serves: the reload is
   * abandoned and they keep serving.
   */
  private onBootFailure(worker: Worker, message: string): void {
    if (this.reloading && worker.generation === this.generation) {
      this.log.error({ err: message }, 'reload failed: the new workers cannot load the app; the old ones keep serving');
      this.reloading = false;
      this.generation--;
      for (const w of [...this.workers]) if (w.generation > this.generation) this.kill(w, 'stop');
      // Old workers that died meanwhile were left for the reload to replace. While others still
      // serve, their places stay empty (a replacement would load the app that just failed); with
      // none left, a replacement is tried, and stops the runner if it fails the same way.
      if (this.current().length === 0) for (let index = 1; index <= this.target; index++) this.respawn(index, Date.now(), null);
      notifySystemd(this.log, 'READY=1');
      return;
    }
    // Another new worker of a reload already abandoned: it fails for the same reason, nothing more to do.
    if (worker.generation > this.generation) return;
    if (this.stopping) return;
    this.log.fatal({ err: message, worker: worker.index }, 'a worker cannot load the app; stopping');
    this.exitCode = EXIT.APP_LOAD;
    this.stop('quit');
  }

  private recycle(worker: Worker, reason: string): void {
    // An old-generation worker asking during a reload is replaced by the reload itself.
    if (this.stopping || worker.state !== 'ready' || worker.recycling || worker.generation < this.generation) return;
    worker.recycling = true;
    this.log.info({ worker: worker.index, workerPid: worker.pid, reason }, 'recycling worker: starting its replacement first');
    this.spawn(worker.index, worker);
  }

  // ---- exits ----

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker);
    if (this.stopping) {
      const cut = code === EXIT.TIMEOUT || (signal !== null && worker.killedBy === 'stop');
      if (cut && this.exitCode === EXIT.OK) this.exitCode = EXIT.TIMEOUT;
      return;
    }
    if (worker.state === 'draining' || worker.killedBy === 'stop') {
      this.log.debug({ worker: worker.index, workerPid: worker.pid, code }, 'worker stopped');
      return;
    }
    // A worker that cannot load the app exits with APP_LOAD; act on it here too, in case its
    // boot-failed message was lost (onBootFailure is idempotent for the same worker).
    if (code === EXIT.APP_LOAD) return this.onBootFailure(worker, `worker exited with code ${EXIT.APP_LOAD}`);
    this.restarts++;
    // Its replacement is already booting (a recycle): that one takes its place, no second respawn.
    const replacement = [...this.workers].some((w) => w.replaces === worker);
    if (worker.recycling && replacement) return;
    const now = Date.now();
    let delay = 0;
    if (worker.killedBy !== 'harakiri') {
      this.crashes = this.crashes.filter((at) => now - at < BACKOFF_WINDOW_MS);
      this.crashes.push(now);
      delay = this.crashes.length <= 1 ? 0 : Math.min(100 * 2 ** (this.crashes.length - 2), BACKOFF_MAX_MS);
      this.log.error({ worker: worker.index, workerPid: worker.pid, code, signal, respawnInMs: delay }, 'worker died; starting a new one');
    }
    // A worker that was replacing another hands that task to its own replacement.
    const replaces = worker.replaces && this.workers.has(worker.replaces) ? worker.replaces : null;
    if (worker.generation === this.generation || replaces) this.respawn(worker.index, now + delay, replaces);
  }

  /** Starts a worker at `index` now, or at `at` (the tick runs until then). */
  private respawn(index: number, at: number, replaces: Worker | null): void {
    if (at > Date.now()) {
      this.respawns.set(index, { at, replaces });
      return;
    }
    this.respawns.delete(index);
    if (index <= this.target) this.spawn(index, replaces);
  }

  // ---- time ----

  private onTick(): void {
    const now = Date.now();
    if (this.stopping) {
      if (now > this.stopDeadline) for (const worker of this.workers) this.kill(worker, 'stop');
      return;
    }
    for (const [index, { at, replaces }] of this.respawns) if (at <= now) this.respawn(index, at, replaces);
    if (this.options.harakiriMs > 0 && this.awake(now)) {
      for (const worker of this.workers) {
        // One beat period of slack: the request that blocked started at most then after the last beat.
        if (worker.state !== 'booting' && worker.killedBy === null && now - worker.lastBeat > this.options.harakiriMs + BEAT_MS) this.harakiri(worker, now);
      }
    }
  }

  /** When the last tick ran, and whether it judged the workers' silence. */
  private lastTickAt = 0;
  private lastTickJudged = true;

  /**
   * Whether this tick may judge the workers' silence. A tick that comes late finds the master
   * itself stalled (a starved CPU, a SIGSTOP): the beats sent meanwhile wait unread in the IPC
   * pipes, which the event loop reads only after its timers, so every worker looked silent and
   * a harakiri deadline killed healthy ones with their requests. A late tick passes, once: the
   * next finds the beats read, and a worker really blocked is still silent then.
   */
  private awake(now: number): boolean {
    const late = this.lastTickAt > 0 && now - this.lastTickAt > TICK_MS + BEAT_MS;
    this.lastTickAt = now;
    this.lastTickJudged = !late || !this.lastTickJudged;
    return this.lastTickJudged;
  }

  /** The worker's event loop has been blocked past the deadline: kill it, name the requests. */
  private harakiri(worker: Worker, now: number): void {
    // Every request in flight dies with the worker; the one that blocked it is among them.
    const requests = [...worker.inFlight.values()].map((r) => ({ reqId: r.reqId, method: r.method, path: r.path, ms: now - r.startedAt }));
    this.log.error({ worker: worker.index, workerPid: worker.pid, silentMs: now - worker.lastBeat, requests }, 'harakiri: worker blocked past the deadline, killing it');
    worker.counters = { ...worker.counters, harakiri: worker.counters.harakiri + 1 };
    this.kill(worker, 'harakiri');
  }

  // ---- workers ----

  /** Workers of the current generation that are not on their way out. */
  private current(): Worker[] {
    return [...this.workers].filter((w) => w.generation === this.generation && w.state !== 'draining' && !w.recycling);
  }

  private spawn(index: number, replaces: Worker | null): void {
    const child = this.start(index);
    const now = Date.now();
    const worker: Worker = {
      index,
      child,
      pid: child.pid ?? 0,
      generation: this.generation,
      state: 'booting',
      spawnedAt: now,
      lastBeat: now,
      counters: { requests: 0, inFlight: 0, exceptions: 0, harakiri: 0, rss: 0, avgLatencyMs: 0 },
      inFlight: new Map(),
      replaces,
      recycling: false,
      killedBy: null,
    };
    this.workers.add(worker);
    child.on('message', (message: unknown) => {
      if (isFromWorker(message)) this.push({ kind: 'message', worker, message });
    });
    child.once('exit', (code, signal) => this.push({ kind: 'exit', worker, code, signal }));
    child.on('error', (err: NodeJS.ErrnoException) => {
      // No process at all (a --python-executable that does not exist): no 'exit' follows, and
      // every respawn would fail the same way, so it is a boot failure.
      if (child.pid === undefined) {
        this.push({ kind: 'message', worker, message: { t: 'boot-failed', message: `cannot run ${this.options.pythonExecutable}: ${err.code ?? err.message}` } });
        this.push({ kind: 'exit', worker, code: EXIT.APP_LOAD, signal: null });
        return;
      }
      this.log.debug({ err: err.message, workerPid: worker.pid }, 'worker channel error');
    });
    this.log.debug({ worker: index, workerPid: worker.pid, generation: this.generation }, 'worker spawned');
  }

  /** A JavaScript worker is this program forked and handed the socket; a Python one inherits it. */
  private start(index: number): ChildProcess {
    if (this.options.python) return spawnPythonWorker(this.options, index, this.target, this.socket.fd);
    const child = fork(process.argv[1]!, [...this.argv], {
      env: withAllocatorTunables({ ...process.env, [WORKER_ENV]: String(index), [WORKERS_ENV]: String(this.target) }),
      execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.send({ t: 'listen' } satisfies ToWorker, this.socket.handle as never);
    return child;
  }

  private retire(worker: Worker, reason: string): void {
    if (worker.state === 'draining') return;
    worker.state = 'draining';
    this.log.info({ worker: worker.index, workerPid: worker.pid, reason }, 'draining worker');
    this.send(worker, { t: 'drain' });
  }

  private kill(worker: Worker, why: 'harakiri' | 'stop'): void {
    if (worker.killedBy) return;
    worker.killedBy = why;
    worker.child.kill('SIGKILL');
  }

  private send(worker: Worker, message: ToWorker): void {
    if (worker.child.connected) worker.child.send(message);
  }
}
