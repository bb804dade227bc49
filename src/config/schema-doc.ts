/**
 * Renders the key tables of docs/configuration.md from the schema, so the
 * documentation cannot drift from what the code reads. The tests compare the
 * document's generated block with this output; to refresh it after a schema
 * change:
 *   node -e "require('./dist/src/config/schema-doc').updateConfigurationDoc('docs/configuration.md')"
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { PATTERN_KEYS, SCHEMA, type KeySpec } from './schema';

export const DOC_BEGIN = '<!-- BEGIN GENERATED KEY TABLES (src/config/schema-doc.ts) -->';
export const DOC_END = '<!-- END GENERATED KEY TABLES -->';

/** Escapes a table cell; '<' too, or markdown renderers eat `<domain>` as HTML. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ').replace(/</g, '&lt;');
}

function codeCell(s: string): string {
  return `\`${s.replace(/\|/g, '\\|')}\``;
}

function row(key: string, spec: KeySpec<unknown>): string {
  const origin = spec.origin === 'reference' ? 'open-vm-tools' : '**extension**';
  return `| ${codeCell(key)} | ${spec.type} | ${cell(spec.defaultText)} | ${cell(spec.rangeText)} | ${origin} | ${cell(spec.description)} |`;
}

export function renderKeyTables(): string {
  const sections = [...new Set([...Object.keys(SCHEMA), ...Object.keys(PATTERN_KEYS)])];
  const out: string[] = [];
  for (const section of sections) {
    out.push(`### [${section}]`, '', '| Key | Type | Default | Valid values | Origin | What it does |', '|---|---|---|---|---|---|');
    if (Object.prototype.hasOwnProperty.call(SCHEMA, section)) {
      const keys: Record<string, KeySpec<unknown>> = SCHEMA[section as keyof typeof SCHEMA];
      for (const [key, spec] of Object.entries(keys)) out.push(row(key, spec));
    }
    if (Object.prototype.hasOwnProperty.call(PATTERN_KEYS, section)) {
      for (const spec of PATTERN_KEYS[section as keyof typeof PATTERN_KEYS]) out.push(row(spec.display, spec));
    }
    out.push('');
  }
  return out.join('\n');
}

/** Replaces the generated block of the document with the current tables. */
export function updateConfigurationDoc(file: string): void {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(DOC_BEGIN);
  const end = text.indexOf(DOC_END);
  if (start < 0 || end < start) throw new Error(`${file}: generated-block markers not found`);
  const next = `${text.slice(0, start + DOC_BEGIN.length)}\n\n${renderKeyTables()}\n${text.slice(end)}`;
  writeFileSync(file, next);
}

/** The generated block as it currently is in the document. */
export function generatedBlockOf(text: string): string | undefined {
  const start = text.indexOf(DOC_BEGIN);
  const end = text.indexOf(DOC_END);
  if (start < 0 || end < start) return undefined;
  return text.slice(start + DOC_BEGIN.length, end).trim();
}
