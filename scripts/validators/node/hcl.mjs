#!/usr/bin/env node
// HashiCorp's own HCL engines on every .tf/.tfvars file under the given paths:
//   - @cdktf/hcl2json: hclsyntax, the parser Terraform uses (compiled to WebAssembly); a file
//     it rejects fails, with its message;
//   - @cdktf/hcl-tools: hclwrite.Format, the formatter behind `terraform fmt`; a file it would
//     change fails, with a short unified diff.
//
//   node hcl.mjs [--json] PATH...
//
// Exit status: 0 when every file parses and is formatted, 1 otherwise, 2 on usage errors.
// With --json, prints one object: {files, parse: {passed, failures: [{file, message}]},
// format: {passed, failures: [{file, diff}]}}.

import fs from "node:fs";
import path from "node:path";
import { parse } from "@cdktf/hcl2json";
import { format } from "@cdktf/hcl-tools";

const SKIP_DIRS = new Set(["node_modules", ".terraform", ".git"]);

function collect(p, out) {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(p).sort()) {
      if (!SKIP_DIRS.has(name)) collect(path.join(p, name), out);
    }
  } else if (p.endsWith(".tf") || p.endsWith(".tfvars")) {
    out.push(p);
  }
}

// A unified diff of two texts (one hunk per run of changes, 2 lines of context), from a
// longest-common-subsequence alignment of their lines.
export function unifiedDiff(file, a, b, maxLines = 40) {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops = []; // [kind, line, i, j]
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) ops.push([" ", x[i], i++, j++]);
    else if (i < n && (j >= m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push(["-", x[i], i++, j]);
    else ops.push(["+", y[j], i, j++]);
  }
  const out = [`--- ${file}`, `+++ ${file} (formatted)`];
  const ctx = 2;
  let k = 0;
  while (k < ops.length) {
    if (ops[k][0] === " ") {
      k++;
      continue;
    }
    let start = Math.max(0, k - ctx);
    let end = k;
    // Extend the hunk while changes are closer than twice the context.
    while (end < ops.length) {
      if (ops[end][0] !== " ") {
        end++;
        continue;
      }
      let run = end;
      while (run < ops.length && ops[run][0] === " ") run++;
      if (run < ops.length && run - end <= 2 * ctx) end = run;
      else break;
    }
    end = Math.min(ops.length, end + ctx);
    const hunk = ops.slice(start, end);
    const oldLen = hunk.filter((o) => o[0] !== "+").length;
    const newLen = hunk.filter((o) => o[0] !== "-").length;
    out.push(`@@ -${hunk[0][2] + 1},${oldLen} +${hunk[0][3] + 1},${newLen} @@`);
    for (const o of hunk) out.push(o[0] + o[1]);
    k = end;
  }
  if (out.length > maxLines) {
    const more = out.length - maxLines;
    out.length = maxLines;
    out.push(`… ${more} more diff lines`);
  }
  return out.join("\n");
}

async function main(argv) {
  const json = argv.includes("--json");
  const roots = argv.filter((a) => a !== "--json");
  if (roots.length === 0) {
    console.error("usage: node hcl.mjs [--json] PATH...");
    return 2;
  }
  const files = [];
  for (const r of roots) collect(r, files);
  const result = {
    files: files.length,
    parse: { passed: 0, failures: [] },
    format: { passed: 0, failures: [] },
  };
  for (const f of files) {
    const src = fs.readFileSync(f, "utf8");
    try {
      await parse(f, src);
      result.parse.passed++;
    } catch (e) {
      result.parse.failures.push({ file: f, message: String(e?.message ?? e).trim() });
    }
    const formatted = await format(src);
    if (formatted === src) result.format.passed++;
    else result.format.failures.push({ file: f, diff: unifiedDiff(f, src, formatted) });
  }
  if (json) {
    console.log(JSON.stringify(result));
  } else {
    for (const p of result.parse.failures) console.log(`parse error: ${p.message}`);
    for (const d of result.format.failures) console.log(`not formatted:\n${d.diff}`);
    console.log(
      `${files.length} files: ${result.parse.failures.length} do not parse, ${result.format.failures.length} not formatted`,
    );
  }
  return result.parse.failures.length || result.format.failures.length ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
