// Writes generated/<dashboard>.ts: each dashboard JSON as an object literal typed as
// @grafana/schema's Dashboard, so tsc checks every field name and value type (object
// literals get excess-property checks). The schema declares some fields as TypeScript
// string enums (ThresholdsMode, MappingType, ...), which no JSON literal can satisfy;
// `Json<T>` turns each such enum into the union of its string values ("absolute" | ...),
// which is exactly what Grafana accepts in dashboard JSON. Nothing else is relaxed.
import { readFileSync, readdirSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "..", "dashboards");
const out = join(here, "generated");
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = readdirSync(src).filter((f) => f.endsWith(".json"));
if (files.length === 0) throw new Error("no dashboards found in " + src);
for (const f of files) {
  const json = JSON.parse(readFileSync(join(src, f), "utf8"));
  const name = f.replace(/\.json$/, "").replace(/[^a-zA-Z0-9]/g, "_");
  writeFileSync(
    join(out, `${name}.ts`),
    `import type { Dashboard } from "@grafana/schema";\nimport type { Json } from "../json";\n\nexport const ${name}: Json<Dashboard> = ${JSON.stringify(json, null, 2)};\n`,
  );
}
console.log(`generated ${files.length} dashboard type checks`);
