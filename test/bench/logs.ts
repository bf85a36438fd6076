/**
 * What a server process wrote while it was measured. tsgi logs pino JSON lines; at the
 * bench's default level (warn) every line is a finding. Anything that is not JSON (a stack
 * trace, a direct server's stderr) is a finding too. uWSGI prints a banner at every start, so
 * its log counts only the lines that tell of trouble.
 */
import { readFileSync } from 'node:fs';

export interface LogFindings {
  warnings: number;
  errors: number;
  /** Lines that are not pino JSON. */
  other: number;
  /** The first few findings, shortened. */
  samples: string[];
}

const WARN = 40;
const ERROR = 50;
const SAMPLES = 5;

/** pino: JSON lines by level; plain: every line counts; uwsgi: only lines that name a problem. */
export type LogKind = 'pino' | 'plain' | 'uwsgi';

const UWSGI_TROUBLE = /error|traceback|exception|broken pipe|timeout|invalid|refused|died|killed|segmentation/i;
// The banner's warnings about how this machine runs it, not about the run.
const UWSGI_BANNER = /running uWSGI as root|no internal routing support|no request plugin is loaded|mem-only|\*\*\* /;

export function scanLog(path: string, kind: LogKind = 'pino'): LogFindings {
  const findings: LogFindings = { warnings: 0, errors: 0, other: 0, samples: [] };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return findings;
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (kind === 'uwsgi' && (!UWSGI_TROUBLE.test(line) || UWSGI_BANNER.test(line))) continue;
    const level = kind === 'pino' ? pinoLevel(line) : null;
    if (level === null) findings.other += 1;
    else if (level >= ERROR) findings.errors += 1;
    else if (level >= WARN) findings.warnings += 1;
    else continue;
    if (findings.samples.length < SAMPLES) findings.samples.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
  }
  return findings;
}

function pinoLevel(line: string): number | null {
  try {
    const record = JSON.parse(line) as { level?: unknown };
    return typeof record.level === 'number' ? record.level : null;
  } catch {
    return null;
  }
}

export function hasFindings(f: LogFindings): boolean {
  return f.warnings + f.errors + f.other > 0;
}
