#!/usr/bin/env node
/**
 * The largest files and the longest functions under a source tree, by lines
 * (issue 20 item 5's figures). Functions are found with the TypeScript
 * compiler's parser: declarations, methods, constructors, accessors, function
 * expressions and arrow functions; a function's length is from its first to
 * its last line, nested functions included.
 *
 *   node scripts/function-lengths.mjs [dir=src] [count=10]
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const root = process.argv[2] ?? "src";
const count = Number(process.argv[3] ?? 10);

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith(".ts") && !path.endsWith(".d.ts")) yield path;
  }
}

function nameOf(node, source) {
  if (node.name !== undefined) return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const parent = node.parent;
  if (parent !== undefined && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))) return parent.name.getText(source);
  return "(anonymous)";
}

const fileSizes = [];
const functions = [];
for (const path of files(root)) {
  const text = readFileSync(path, "utf8");
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos) => source.getLineAndCharacterOfPosition(pos).line;
  fileSizes.push({ file: relative(root, path), lines: text.split("\n").length - (text.endsWith("\n") ? 1 : 0) });
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body !== undefined) {
      const lines = lineOf(node.getEnd()) - lineOf(node.getStart(source)) + 1;
      functions.push({ name: nameOf(node, source), file: relative(root, path), line: lineOf(node.getStart(source)) + 1, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

fileSizes.sort((a, b) => b.lines - a.lines);
functions.sort((a, b) => b.lines - a.lines);
console.log(`largest files under ${root}/:`);
for (const f of fileSizes.slice(0, count)) console.log(`  ${String(f.lines).padStart(5)}  ${f.file}`);
console.log(`longest functions under ${root}/:`);
for (const f of functions.slice(0, count)) console.log(`  ${String(f.lines).padStart(5)}  ${f.name}  ${f.file}:${f.line}`);
