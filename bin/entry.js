// Shared by bin/vmtoolsd and bin/vmware-toolbox-cmd: load an entry point
// from dist/src/cli/, bundled when the bundle is current (scripts/bundle.js),
// and run its main() with the process's exit code.
//
// A bundle is loaded with the V8 code cache scripts/bundle.js made for it
// (<name>.bundle.v8cache): compiling the 1 MB bundle is the largest single
// cost of start-up (docs/design.md, "Start-up and memory"). Node 20 has no
// module.enableCompileCache(), so this does what it does: compile the
// module wrapper with vm.Script and the cached data. V8 itself refuses a
// cache made by another V8 version, other flags or a source of another
// length (cachedDataRejected: the script is then compiled as usual); the
// mtime check below refuses one made for an earlier bundle.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const CLI_DIR = path.join(__dirname, '..', 'dist', 'src', 'cli');

/** How the last loadEntry() went, for tests: 'plain', 'bundle', 'bundle+cache', 'bundle+rejected-cache'. */
const lastLoad = { how: 'none' };

function mtimeMs(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** The module to load: the bundle only if it is not older than tsc's output. */
function entryModule(name, cliDir = CLI_DIR, env = process.env) {
  const plain = path.join(cliDir, `${name}.js`);
  if (env.VMTOOLSD_BUNDLE === '0') return plain;
  const bundled = path.join(cliDir, `${name}.bundle.js`);
  const b = mtimeMs(bundled);
  return b >= 0 && b >= mtimeMs(plain) ? bundled : plain;
}

/** Where a bundle's V8 code cache is: <name>.bundle.v8cache beside it. */
function codeCachePath(bundle) {
  return bundle.replace(/\.js$/, '.v8cache');
}

/**
 * A bundle's module wrapper compiled as a script, with `cachedData` if
 * given. scripts/bundle.js makes the cache through this same function:
 * V8 accepts a cache only for the same source and filename.
 */
function compileBundle(file, cachedData) {
  const Module = require('node:module');
  const vm = require('node:vm');
  return new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
}

/** The code cache for a bundle, if one was made after it (else undefined). */
function codeCacheFor(bundle) {
  const cache = codeCachePath(bundle);
  const c = mtimeMs(cache);
  if (c < 0 || c < mtimeMs(bundle)) return undefined;
  try {
    return fs.readFileSync(cache);
  } catch {
    return undefined;
  }
}

/** require(file), compiled with its code cache when there is a current one. */
function requireBundle(file) {
  const cachedData = codeCacheFor(file);
  if (!cachedData) {
    lastLoad.how = 'bundle';
    return require(file);
  }
  const Module = require('node:module');
  const script = compileBundle(file, cachedData);
  lastLoad.how = script.cachedDataRejected ? 'bundle+rejected-cache' : 'bundle+cache';
  const m = new Module(file, module);
  m.filename = file;
  Module._cache[file] = m;
  script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, path.dirname(file));
  m.loaded = true;
  return m.exports;
}

function loadEntry(name, cliDir = CLI_DIR, env = process.env) {
  const file = entryModule(name, cliDir, env);
  if (!file.endsWith('.bundle.js')) {
    lastLoad.how = 'plain';
    return require(file);
  }
  return requireBundle(file);
}

function runEntry(name, label) {
  const { main } = loadEntry(name);
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${label}: ${e && e.stack ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}

module.exports = { codeCachePath, compileBundle, entryModule, loadEntry, runEntry, lastLoad };
