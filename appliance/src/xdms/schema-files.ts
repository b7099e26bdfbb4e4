import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The folder of XSD copies (appliance/schemas), the same from src/ and dist/. */
const SCHEMA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schemas');

/** Network schema locations mapped to the local copies, as an XML catalog would (no fetches, ever). */
const CATALOG: [string, string][] = [
  ['http://www.w3.org/2001/xml.xsd', 'xml.xsd'],
  ['http://www.w3.org/2001/03/xml.xsd', 'xml.xsd'],
];

/** A plain file name of appliance/schemas (no path, nothing a location could climb out with). */
const FILE_NAME = /^[A-Za-z0-9_.-]+\.xsd$/;

const schemaTexts = new Map<string, string>();

/**
 * <xs:annotation> elements (any prefix), which say nothing to a validator (XSD 1.0 §3.13):
 * left out of the text the validator compiles and subtree-schema.ts reads.
 */
const ANNOTATION = /<([A-Za-z_][\w.-]*:)?annotation\b[^>]*?(\/>|>[\s\S]*?<\/\1annotation\s*>)/g;

/**
 * The text of a schema file of appliance/schemas as the validator uses it:
 * network locations mapped to the local copies, annotations left out.
 */
export function readSchema(file: string): string {
  let text = schemaTexts.get(file);
  if (text === undefined) {
    if (!FILE_NAME.test(file)) throw new Error(`not a schema file name: ${file}`);
    text = readFileSync(path.join(SCHEMA_DIR, file), 'utf8').replace(ANNOTATION, '');
    for (const [from, to] of CATALOG) text = text.replaceAll(`schemaLocation="${from}"`, `schemaLocation="${to}"`);
    schemaTexts.set(file, text);
  }
  return text;
}
