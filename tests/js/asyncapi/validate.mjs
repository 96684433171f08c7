// Validates an AsyncAPI document with the official parser: node validate.mjs <file.json|yaml>.
// Prints one JSON line {"errors": [...], "warnings": [...]} and exits 1 when there are errors.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const text = readFileSync(path, "utf8");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text, { source: path });
const describe = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
const errors = diagnostics.filter((d) => d.severity === 0).map(describe);
const warnings = diagnostics.filter((d) => d.severity === 1).map(describe);
console.log(JSON.stringify({ parsed: document !== undefined, errors, warnings }));
process.exit(errors.length || document === undefined ? 1 : 0);
