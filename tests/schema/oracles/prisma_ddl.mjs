// Prints the SQL that Prisma's own schema engine (@prisma/schema-engine-wasm, driven through
// @prisma/adapter-pg) generates to create a schema from nothing, as `prisma migrate diff --from-empty
// --to-schema … --script` would. Usage: PRISMA_DDL_URL=postgresql://… node prisma_ddl.mjs NODE_MODULES PATH
// (PATH: a .prisma file or a folder of them; the engine needs a reachable PostgreSQL, it changes nothing).
import fs from "node:fs";
import path from "node:path";

const [modules, target] = process.argv.slice(2).map((p) => path.resolve(p));
const enginePackage = path.join(modules, "@prisma/schema-engine-wasm");
const bindings = await import(path.join(enginePackage, "schema_engine_bg.js"));
const wasmBytes = fs.readFileSync(path.join(enginePackage, "schema_engine_bg.wasm"));
const { instance } = await WebAssembly.instantiate(wasmBytes, { "./schema_engine_bg.js": bindings });
bindings.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();
const { PrismaPg } = await import(path.join(modules, "@prisma/adapter-pg/dist/index.mjs"));
const { bindMigrationAwareSqlAdapterFactory } = await import(
  path.join(modules, "@prisma/driver-adapter-utils/dist/index.mjs")
);

const paths = fs.statSync(target).isDirectory()
  ? fs.readdirSync(target).filter((f) => f.endsWith(".prisma")).sort().map((f) => path.join(target, f))
  : [target];
const files = paths.map((p) => ({ path: p, content: fs.readFileSync(p, "utf8") }));
const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPg({ connectionString: process.env.PRISMA_DDL_URL }));
const engine = await bindings.SchemaEngine.new({ datamodels: files.map((f) => [f.path, f.content]) }, () => {}, adapter);
const result = await engine.diff({
  from: { tag: "empty" },
  to: { tag: "schemaDatamodel", files },
  script: true,
  exitCode: null,
  filters: { externalTables: [], externalEnums: [] },
});
process.stdout.write(result.stdout);
process.exit(0);
