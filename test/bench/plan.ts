/**
 * Which scenario runs which systems: the --scenario and --systems choices, the systems not
 * installed here (skipped with a notice), the framework scenarios (only the Python systems,
 * compared with nginx + uWSGI; skipped when the framework is not installed), and the
 * open-file limit the idle scenario needs.
 */
import { spawnSync } from 'node:child_process';
import { BASELINE, SCALING_SYSTEMS, SYSTEMS } from './catalogue.js';
import { SetupError } from './errors.js';
import type { BenchOptions } from './options.js';
import { fileLimits } from './processes.js';
import { scenarios, type Framework, type Scenario } from './scenarios.js';
import { PYTHON, type System } from './systems.js';

/** The framework scenarios compare the Python systems with this one. */
const FRAMEWORK_BASELINE = 'nginx+uwsgi';

/** One scenario's plan: the systems it runs (missing ones are reported and skipped). */
export interface Plan {
  scenario: Scenario;
  systems: System[];
  baseline: string;
}

export function plan(options: BenchOptions): Plan[] {
  const all = scenarios(options.sizes);
  const unknownScenario = options.scenarios?.find((name) => !all.some((s) => s.name === name));
  if (unknownScenario) throw new SetupError(`--scenario: no scenario "${unknownScenario}" (${all.map((s) => s.name).join(', ')})`);
  const known = [...SYSTEMS, ...SCALING_SYSTEMS].map((s) => s.name);
  const unknownSystem = options.systems?.find((name) => !known.includes(name));
  if (unknownSystem) throw new SetupError(`--systems: no system "${unknownSystem}" (${[...new Set(known)].join(', ')})`);
  const chosen = (list: readonly System[]) => list.filter((s) => !options.systems || options.systems.includes(s.name)).filter(available);
  return all
    .filter((s) => !options.scenarios || options.scenarios.includes(s.name))
    .filter((s) => !s.framework || frameworkInstalled(s.name, s.framework))
    .map((scenario) =>
      scenario.name === 'scaling'
        ? { scenario, systems: options.systems ? SCALING_SYSTEMS.filter((s) => options.systems!.includes('tsgi') || options.systems!.includes(s.name)) : [...SCALING_SYSTEMS], baseline: 'tsgi' }
        : scenario.framework
          ? { scenario, systems: chosen(SYSTEMS.filter((s) => s.hostsPython && runs(s, scenario))), baseline: FRAMEWORK_BASELINE }
          : { scenario, systems: chosen(SYSTEMS.filter((s) => (!s.helloOnly || scenario.name.startsWith('hello-')) && runs(s, scenario))), baseline: BASELINE },
    )
    .filter((p) => p.systems.length > 0);
}

/** A system limited to some scenarios (`only`) runs those alone. */
function runs(system: System, scenario: Scenario): boolean {
  return !system.only || system.only.includes(scenario.name);
}

/** uWSGI's python3 plugin and Debian's gunicorn run the same interpreter as tsgi+python. */
function frameworkInstalled(scenario: string, framework: Framework): boolean {
  if (spawnSync(PYTHON, ['-c', `import ${framework.module}`], { stdio: 'ignore' }).status === 0) return true;
  process.stdout.write(`skipped: scenario ${scenario} (${PYTHON} cannot import ${framework.module}: apt-get install ${framework.debian})\n`);
  return false;
}

/** Systems skipped because a program is missing, each reported once. */
export const skipped = new Set<string>();

function available(system: System): boolean {
  const missing = system.missing();
  if (missing && !skipped.has(system.name)) {
    skipped.add(system.name);
    process.stdout.write(`skipped: ${system.name} (${missing})\n`);
  }
  return missing === null;
}

/** The idle scenario needs a descriptor per connection in the client and the servers. */
export function openFiles(plans: readonly Plan[]): { soft: number; hard: number } | null {
  const needed = Math.max(0, ...plans.filter((p) => p.scenario.kind === 'idle').map((p) => p.scenario.connections)) + 1024;
  const limits = fileLimits();
  if (!limits || limits.soft >= needed) return null;
  if (limits.hard < needed) {
    throw new SetupError(`the idle scenario needs ${needed} open files per process; the hard limit is ${limits.hard} (raise it, or use --idle-connections)`);
  }
  process.stdout.write(`open files: soft limit ${limits.soft} raised to ${needed} for the processes we start (prlimit)\n`);
  return { soft: needed, hard: limits.hard };
}

