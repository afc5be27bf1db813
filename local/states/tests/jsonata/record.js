#!/usr/bin/env node
// Records the expected results of the JSONata corpus with the reference implementation.
//
// Re-record after editing cases.json (from the repository root):
//
//   node local/states/tests/jsonata/record.js
//
// It installs the pinned Node tools first (local/node/install.sh, which puts the `jsonata`
// package of local/node/package-lock.json, the version Step Functions runs, into
// local/node/node_modules), then evaluates every case of cases.json and writes expected.json.
//
// A case is {"expr", "bindings"?, "reference"?, "result"?}. Each entry of `bindings` is bound
// as a variable (`states` becomes `$states`), and the expression is evaluated with no input,
// as Step Functions does: a bare path such as `a.b` is undefined, `$states.input.a.b` is not.
// The result is {"value": json}, {"undefined": true} or {"error": "<JSONata error code>"}.
// Cases with "reference": "aws-docs" use the functions Step Functions adds ($partition, $range,
// $hash, $uuid, $parse) or removes ($eval); their "result", written by hand from AWS's
// documentation, is copied as it is.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const here = __dirname;
const nodeDir = path.resolve(here, '../../../node');

function install() {
  execFileSync(path.join(nodeDir, 'install.sh'), { stdio: ['ignore', 'pipe', 'inherit'] });
  const jsonata = require(path.join(nodeDir, 'node_modules/jsonata'));
  const version = require(path.join(nodeDir, 'node_modules/jsonata/package.json')).version;
  return { jsonata, version };
}

// Whether `value` survives JSON as it is: no functions, no non-finite numbers.
function plainJson(value) {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return true;
  }
  if (typeof value === 'number') {
    return Number.isFinite(value);
  }
  if (Array.isArray(value)) {
    return value.every((item) => item === undefined || plainJson(item));
  }
  if (typeof value === 'object' && !value._jsonata_lambda && !value._jsonata_function) {
    return Object.values(value).every((item) => item === undefined || plainJson(item));
  }
  return false;
}

async function evaluate(jsonata, expr, bindings) {
  let expression;
  try {
    expression = jsonata(expr);
  } catch (e) {
    return { error: e.code || e.name };
  }
  let value;
  try {
    value = await expression.evaluate(undefined, bindings);
  } catch (e) {
    return { error: e.code || e.name };
  }
  if (value === undefined) {
    return { undefined: true };
  }
  if (!plainJson(value)) {
    throw new Error(`${expr}: the result has no JSON form; change the case`);
  }
  return { value: JSON.parse(JSON.stringify(value)) };
}

async function main() {
  const { jsonata, version } = install();
  const cases = JSON.parse(fs.readFileSync(path.join(here, 'cases.json'), 'utf8'));
  const seen = new Set();
  const recorded = [];
  for (const c of cases) {
    if (typeof c.expr !== 'string') {
      throw new Error(`a case without an expression: ${JSON.stringify(c)}`);
    }
    if (seen.has(c.expr)) {
      throw new Error(`${c.expr}: the expression is in cases.json twice`);
    }
    seen.add(c.expr);
    const bindings = c.bindings || {};
    const entry = { expr: c.expr, bindings };
    if (c.reference === 'aws-docs') {
      if (!c.result) {
        throw new Error(`${c.expr}: an aws-docs case needs its hand-written result`);
      }
      entry.reference = 'aws-docs';
      entry.result = c.result;
    } else if (c.reference !== undefined || c.result !== undefined) {
      throw new Error(`${c.expr}: only aws-docs cases carry a reference and a result`);
    } else {
      entry.result = await evaluate(jsonata, c.expr, bindings);
    }
    recorded.push(entry);
  }
  const text = `[\n${recorded.map((e) => JSON.stringify(e)).join(',\n')}\n]\n`;
  fs.writeFileSync(path.join(here, 'expected.json'), text);
  const fromDocs = recorded.filter((e) => e.reference === 'aws-docs').length;
  console.log(
    `expected.json: ${recorded.length} cases, ${recorded.length - fromDocs} recorded with jsonata ${version}, ${fromDocs} from AWS's documentation`,
  );
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
