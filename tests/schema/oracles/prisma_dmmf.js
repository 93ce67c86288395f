// Prints the DMMF datamodel of a Prisma schema (a file or a folder of .prisma files), as Prisma's own
// parser (@prisma/prisma-schema-wasm) reads it. Usage: node prisma_dmmf.js NODE_MODULES PATH
const fs = require("fs");
const path = require("path");
const wasm = require(path.resolve(process.argv[2], "@prisma/prisma-schema-wasm"));
const target = process.argv[3];
const files = fs.statSync(target).isDirectory()
  ? fs.readdirSync(target).filter((f) => f.endsWith(".prisma")).sort().map((f) => path.join(target, f))
  : [target];
const schema = files.map((f) => [f, fs.readFileSync(f, "utf8")]);
const dmmf = JSON.parse(wasm.get_dmmf(JSON.stringify({ prismaSchema: schema })));
process.stdout.write(JSON.stringify(dmmf.datamodel));
