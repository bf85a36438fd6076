/**
 * What a server process wrote while it was measured. tsgi logs pino JSON lines; at the
 * bench's default level (warn) every line is a finding. Anything that is not JSON (a stack
 * trace, a direct server's stderr) is a finding too.
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

export function scanLog(path: string): LogFindings {
  const findings: LogFindings = { warnings: 0, errors: 0, other: 0, samples: [] };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return findings;
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const level = pinoLevel(line);
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
