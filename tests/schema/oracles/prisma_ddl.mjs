// Prints the SQL that Prisma's own schema engine (@prisma/schema-engine-wasm, driven through
// @prisma/adapter-pg) generates to create a schema from nothing, as `prisma migrate diff --from-empty
// --to-schema … --script` would. Usage: PRISMA_DDL_URL=postgresql://… node prisma_ddl.mjs NODE_MODULES PATH
// (PATH: a .prisma file or a folder of them; the engine needs a reachable PostgreSQL, it changes nothing).
// PRISMA_MODE=pull prints instead the schema `prisma db pull` makes of the database at PRISMA_DDL_URL (PATH
// gives the datasource), PRISMA_MODE=diff the SQL that would bring that database to the schema PATH, as
// `prisma migrate diff --from-config-datasource --to-schema PATH --script` prints it (only a comment when
// Prisma's engine finds the database and the schema the same). Neither changes the database.
import fs from "node:fs";
import path from "node:path";

// the engine reports a Rust panic through this hook before it aborts
globalThis.PRISMA_WASM_PANIC_REGISTRY = { set_message: (message) => console.error(`engine panic: ${message}`) };
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
const { ColumnTypeEnum } = await import(path.join(modules, "@prisma/driver-adapter-utils/dist/index.mjs"));
const factory = new PrismaPg({ connectionString: process.env.PRISMA_DDL_URL });

// PostgreSQL's internal one-byte "char" (oid 18: pg_constraint.contype …, which introspection reads) has
// no mapping in the pg adapter; the engine reads it as a Character column. Patched on the adapter's query
// class: its result is read as text, then typed Character.
const probe = await factory.connect();
const queryable = Object.getPrototypeOf(Object.getPrototypeOf(probe));
await probe.dispose();
const queryRaw = queryable.queryRaw;
queryable.queryRaw = async function (query) {
  const io = await this.performIO(query);
  const chars = io.fields.map((field) => field.dataTypeID === 18);
  for (const field of io.fields) if (field.dataTypeID === 18) field.dataTypeID = 25;
  const answered = Object.create(this, { performIO: { value: async () => io } });
  const result = await queryRaw.call(answered, query);
  result.columnTypes = result.columnTypes.map((type, i) => (chars[i] ? ColumnTypeEnum.Character : type));
  return result;
};
const adapter = bindMigrationAwareSqlAdapterFactory(factory);
const engine = await bindings.SchemaEngine.new({ datamodels: files.map((f) => [f.path, f.content]) }, () => {}, adapter);
const mode = process.env.PRISMA_MODE || "ddl";
if (mode === "pull") {
  const pulled = await engine.introspect({
    schema: { files },
    baseDirectoryPath: path.dirname(paths[0]),
    force: true,
    compositeTypeDepth: -1,
    namespaces: null,
  });
  process.stdout.write(pulled.schema.files.map((f) => f.content).join("\n"));
  process.exit(0);
}
const result = await engine.diff({
  from: mode === "diff" ? { tag: "schemaDatasource", files, configDir: path.dirname(paths[0]) } : { tag: "empty" },
  to: { tag: "schemaDatamodel", files },
  script: true,
  exitCode: null,
  filters: { externalTables: [], externalEnums: [] },
});
process.stdout.write(result.stdout);
process.exit(0);
