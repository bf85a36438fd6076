/**
 * The directive reference, generated from the directive table so the two cannot drift:
 * `npm run docs` rewrites the block between the markers in proxy/config/DIRECTIVES.md, beside
 * the table, and a test fails when that file and the table disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DIRECTIVE_LIST, type DirectiveSpec } from './directives.js';

export const BEGIN = '<!-- directives:begin -->';
export const END = '<!-- directives:end -->';

export function renderReference(list: readonly DirectiveSpec[] = DIRECTIVE_LIST): string {
  return list.map(renderDirective).join('\n');
}

function renderDirective(spec: DirectiveSpec): string {
  const lines = [
    `#### \`${spec.name}\`${spec.block ? ' (block)' : ''}`,
    '',
    `- Syntax: \`${spec.syntax}\``,
    `- Default: ${spec.default === undefined ? '—' : `\`${spec.default}\``}`,
    `- Context: ${spec.contexts.map((c) => (c === 'main' ? 'top level' : `\`${c}\``)).join(', ')}`,
    `- Example: \`${spec.example}\``,
    '',
    spec.description,
    '',
  ];
  return lines.join('\n');
}

/** `text` with the block between the markers replaced by the rendered reference. */
export function withReference(text: string, reference = renderReference()): string {
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`markers ${BEGIN} … ${END} not found`);
  return `${text.slice(0, begin + BEGIN.length)}\n${reference}${text.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? 'proxy/config/DIRECTIVES.md';
  writeFileSync(file, withReference(readFileSync(file, 'utf8')));
  process.stdout.write(`directive reference written to ${file}\n`);
}
