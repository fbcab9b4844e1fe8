// Three bundles: the extension (node, cjs, `vscode` external), the `lanes` CLI (node, with a
// shebang) and the reconcile webview (browser). Also writes the plan's JSON Schema, generated
// from the zod schema, to dist/plan.schema.json (contributed through `jsonValidation`).
//
//   node esbuild.config.mjs               development build with linked source maps
//   node esbuild.config.mjs --production  minified; maps written beside the bundles but not linked
//                                         (and left out of the .vsix by .vscodeignore)
//   node esbuild.config.mjs --watch
import * as esbuild from 'esbuild';
import { chmod, copyFile, mkdir, writeFile, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));

const common = {
  bundle: true,
  minify: production,
  sourcemap: production ? 'external' : 'linked',
  sourcesContent: !production,
  logLevel: 'warning',
  define: { __LANES_VERSION__: JSON.stringify(pkg.version) },
  absWorkingDir: root,
};

/** Report errors in the `file:line:col: error: text` shape VS Code's problem matchers read. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
    });
  },
};

/**
 * zod re-exports every locale (260 KB minified) though only English is ever used: bundle the
 * English one alone.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`) ? { path: 'zod-locales', namespace: 'zod-locales' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, () => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(root, 'node_modules/zod/v4/locales/en.js'))};`,
      resolveDir: root,
    }));
  },
};
common.plugins = [zodEnglishOnly];

const builds = [
  { ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node18', external: ['vscode'], plugins: [zodEnglishOnly, problemMatcher] },
  { ...common, entryPoints: ['src/cli/index.ts'], outfile: 'dist/cli.js', platform: 'node', format: 'cjs', target: 'node18', banner: { js: '#!/usr/bin/env node' }, plugins: [zodEnglishOnly, problemMatcher] },
  { ...common, entryPoints: ['src/webview/main.ts'], outfile: 'dist/webview.js', platform: 'browser', format: 'iife', target: 'es2022', plugins: [zodEnglishOnly, problemMatcher] },
];

async function writeSchema() {
  // Load the schema module through a throwaway bundle so this script needs no TS loader.
  const out = await esbuild.build({ ...common, entryPoints: ['src/core/plan/schema.ts'], platform: 'node', format: 'cjs', write: false, sourcemap: false, minify: false });
  const mod = { exports: {} };
  new Function('module', 'exports', 'require', out.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url));
  await writeFile(path.join(root, 'dist/plan.schema.json'), JSON.stringify(mod.exports.planJsonSchema(), null, 2) + '\n');
  // The queue file's schema, the same way.
  const q = await esbuild.build({ ...common, entryPoints: ['src/core/queue/schema.ts'], platform: 'node', format: 'cjs', write: false, sourcemap: false, minify: false });
  const qmod = { exports: {} };
  new Function('module', 'exports', 'require', q.outputFiles[0].text)(qmod, qmod.exports, createRequire(import.meta.url));
  await writeFile(path.join(root, 'dist/queue.schema.json'), JSON.stringify(qmod.exports.queueJsonSchema(), null, 2) + '\n');
}

/** Codicons are copied next to the bundles (node_modules is not in the .vsix). */
async function copyCodicons() {
  await mkdir(path.join(root, 'dist/media'), { recursive: true });
  for (const f of ['codicon.css', 'codicon.ttf']) await copyFile(path.join(root, 'node_modules/@vscode/codicons/dist', f), path.join(root, 'dist/media', f));
}

await mkdir(path.join(root, 'dist'), { recursive: true });
await copyCodicons();
if (watch) {
  const contexts = await Promise.all(builds.map((b) => esbuild.context(b)));
  await Promise.all(contexts.map((c) => c.watch()));
  await writeSchema();
  console.log('watching…');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  await writeSchema();
  await chmod(path.join(root, 'dist/cli.js'), 0o755);
}
