// Drives Prisma's own schema engine (@prisma/schema-engine-wasm through @prisma/adapter-pg) against a live
// PostgreSQL, as the Prisma CLI would. Usage: PRISMA_DDL_URL=postgresql://… node prisma_engine.mjs NODE_MODULES MODE PATH
// (PATH: a .prisma file or a folder of them). Only `push` may change the database.
//   MODE ddl:  prints the SQL that creates the schema PATH from nothing, as `prisma migrate diff --from-empty
//              --to-schema PATH --script` (the engine needs a reachable server, it changes nothing)
//   MODE diff: prints the SQL that would bring the database to the schema PATH, as `prisma migrate diff
//              --from-config-datasource --to-schema PATH --script` (only a comment when the engine finds the
//              database and the schema the same)
//   MODE pull: prints the schema `prisma db pull` writes (PATH: a .prisma file with the datasource block)
//   MODE push: prints the engine's push result as JSON without applying anything that loses data;
//              {"executedSteps": 0, …} means the engine sees no difference between PATH and the database.
// adapter-pg 7.10.1 cannot read the "char" columns of the catalog queries that introspection runs (it throws
// UnsupportedNativeDataType for type oid 18); they are handed over as text and typed Character (below).
// a panic of the engine prints its message instead of failing to report it
globalThis.PRISMA_WASM_PANIC_REGISTRY = { set_message: (message) => console.error("PANIC:", message) };
import fs from "node:fs";
import path from "node:path";

const [modulesArg, mode, targetArg] = process.argv.slice(2);
const modules = path.resolve(modulesArg);
const target = path.resolve(targetArg);
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
const CHAR_OID = 18;
const TEXT_OID = 25;

const paths = fs.statSync(target).isDirectory()
  ? fs.readdirSync(target).filter((f) => f.endsWith(".prisma")).sort().map((f) => path.join(target, f))
  : [target];
const files = paths.map((p) => ({ path: p, content: fs.readFileSync(p, "utf8") }));
const { ColumnTypeEnum } = await import(path.join(modules, "@prisma/driver-adapter-utils/dist/index.mjs"));
const factory = new PrismaPg({ connectionString: process.env.PRISMA_DDL_URL });

// The adapter's query class is patched: a "char" column's result is read as text, then typed Character, as
// the engine's describer reads it (typed Text, PostgreSQL 18's NOT NULL constraints, contype 'n', panic it)
const probe = await factory.connect();
const queryable = Object.getPrototypeOf(Object.getPrototypeOf(probe));
await probe.dispose();
const queryRaw = queryable.queryRaw;
queryable.queryRaw = async function (query) {
  const io = await this.performIO(query);
  const chars = io.fields.map((field) => field.dataTypeID === CHAR_OID);
  for (const field of io.fields) if (field.dataTypeID === CHAR_OID) field.dataTypeID = TEXT_OID;
  const answered = Object.create(this, { performIO: { value: async () => io } });
  const result = await queryRaw.call(answered, query);
  result.columnTypes = result.columnTypes.map((type, i) => (chars[i] ? ColumnTypeEnum.Character : type));
  return result;
};
const adapter = bindMigrationAwareSqlAdapterFactory(factory);
const engine = await bindings.SchemaEngine.new({ datamodels: files.map((f) => [f.path, f.content]) }, () => {}, adapter);
const filters = { externalTables: [], externalEnums: [] };
if (mode === "pull") {
  const result = await engine.introspect({
    schema: { files },
    baseDirectoryPath: path.dirname(paths[0]),
    force: true,
    compositeTypeDepth: -1,
    namespaces: null,
  });
  process.stdout.write(result.schema.files.map((f) => f.content).join("\n"));
} else if (mode === "push") {
  const result = await engine.schemaPush({ force: false, schema: { files }, filters });
  process.stdout.write(JSON.stringify(result));
} else if (mode === "ddl" || mode === "diff") {
  const result = await engine.diff({
    from: mode === "diff" ? { tag: "schemaDatasource", files, configDir: path.dirname(paths[0]) } : { tag: "empty" },
    to: { tag: "schemaDatamodel", files },
    script: true,
    exitCode: null,
    filters,
  });
  process.stdout.write(result.stdout);
} else {
  throw new Error(`unknown mode ${mode}: ddl, diff, pull or push`);
}
process.exit(0);
