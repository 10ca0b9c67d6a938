#!/usr/bin/env node
/**
 * Removes from a production install (`pnpm install --prod`) what production never loads; the
 * Dockerfile runs it, so the image carries only what `node dist/server.js`, `dist/cluster.js` and
 * `dist/db/cli/migrate.js` use.
 *
 *   node scripts/prune-production-modules.mjs [app dir]     # default: the current directory
 *
 * `pnpm install --prod` still installs the optional peers of production packages whenever the
 * lockfile resolved them from a devDependency: `@prisma/client`'s optional peers `prisma` (the
 * CLI, which brings Prisma Studio with React, `effect`, an older PGlite...) and `typescript`,
 * about 250 MB that nothing in production requires. This script keeps exactly the packages
 * reachable from package.json's `dependencies` through each package's `dependencies`,
 * `optionalDependencies` and non-optional `peerDependencies` (resolved as Node resolves them),
 * and deletes every other package directory under node_modules/.pnpm. Then it deletes files that
 * no production code path reads:
 * - `@prisma/client`'s query compilers for the databases the schema does not use (the generated
 *   client imports only its provider's, e.g. `query_compiler_fast_bg.postgresql.*`), and the
 *   `small` variants, which only edge bundles use;
 * - source maps and TypeScript declaration files.
 *
 * It prints what it removed and the size left. The container tier checks the result: the image's
 * node_modules stays under 150 MB, and the server, the cluster and the migrations run from it.
 */
import { lstatSync, readFileSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const app = path.resolve(process.argv[2] ?? '.');
const modules = path.join(app, 'node_modules');
const store = path.join(modules, '.pnpm');

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const exists = (file) => {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
};

/** Where Node would find package `name` when required from `dir`: the first node_modules up. */
function resolvePackage(name, dir) {
  for (let at = dir; ; at = path.dirname(at)) {
    const candidate = path.join(at, 'node_modules', name);
    if (exists(path.join(candidate, 'package.json'))) return realpathSync(candidate);
    if (at === path.dirname(at)) return undefined;
  }
}

/** Every package directory production can load, as real paths. */
function reachable() {
  const keep = new Set();
  const queue = [{ dir: app, root: true }];
  while (queue.length > 0) {
    const { dir, root } = queue.pop();
    const manifest = readJson(path.join(dir, 'package.json'));
    const optionalPeers = new Set(
      Object.entries(manifest.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta?.optional)
        .map(([name]) => name),
    );
    const names = [
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
      ...(root
        ? []
        : Object.keys(manifest.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name))),
    ];
    for (const name of names) {
      const found = resolvePackage(name, dir);
      // An optional dependency for another platform (e.g. argon2's musl binary) is not installed.
      if (found === undefined || keep.has(found)) continue;
      keep.add(found);
      queue.push({ dir: found, root: false });
    }
  }
  return keep;
}

/** The package directories (not links) in a store entry's node_modules: <name> or @scope/name. */
function storePackagesIn(nm) {
  const dirs = [];
  for (const name of readdirSync(nm)) {
    const names = name.startsWith('@')
      ? readdirSync(path.join(nm, name)).map((sub) => path.join(name, sub))
      : [name];
    for (const n of names) {
      const dir = path.join(nm, n);
      if (!lstatSync(dir).isSymbolicLink()) dirs.push(dir);
    }
  }
  return dirs;
}

/** The package directories of the store: .pnpm/<entry>/node_modules/<name or @scope/name>. */
function storePackages() {
  return readdirSync(store)
    .map((entry) => path.join(store, entry, 'node_modules'))
    .filter(exists)
    .flatMap(storePackagesIn);
}

function sizeOf(target) {
  const stat = lstatSync(target);
  if (stat.isSymbolicLink()) return 0;
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(target).reduce((sum, entry) => sum + sizeOf(path.join(target, entry)), 0);
}

function walkFiles(dir, visit) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walkFiles(full, visit);
    else if (entry.isFile()) visit(full, entry.name);
  }
}

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const before = sizeOf(modules);

const keep = reachable();
let removedPackages = 0;
for (const dir of storePackages()) {
  if (keep.has(dir)) continue;
  rmSync(dir, { recursive: true, force: true });
  removedPackages += 1;
}

// A store entry whose package is gone holds only links to its dependencies: remove it too.
for (const entry of readdirSync(store)) {
  const nm = path.join(store, entry, 'node_modules');
  if (exists(nm) && !storePackagesIn(nm).length)
    rmSync(path.join(store, entry), { recursive: true });
}

// The query compilers of the providers the schema does not name, and the edge-only `small` ones.
const provider = /datasource\s+\w+\s*\{[^}]*provider\s*=\s*"(\w+)"/.exec(
  readFileSync(path.join(app, 'prisma', 'schema.prisma'), 'utf8'),
)?.[1];
if (!provider) throw new Error('prisma/schema.prisma names no datasource provider');
let removedFiles = 0;
const client = resolvePackage('@prisma/client', app);
if (client) {
  const runtime = path.join(client, 'runtime');
  for (const file of readdirSync(runtime)) {
    const compiler = /^query_compiler_(fast|small)_bg\.(\w+)\./.exec(file);
    if (compiler && (compiler[1] === 'small' || compiler[2] !== provider)) {
      rmSync(path.join(runtime, file));
      removedFiles += 1;
    }
  }
}
walkFiles(store, (file, name) => {
  if (/\.(map|d\.ts|d\.mts|d\.cts)$/.test(name)) {
    rmSync(file);
    removedFiles += 1;
  }
});

const after = sizeOf(modules);
console.log(
  `prune-production-modules: kept ${keep.size} packages, removed ${removedPackages} packages and ` +
    `${removedFiles} files: node_modules ${mb(before)} -> ${mb(after)}`,
);
