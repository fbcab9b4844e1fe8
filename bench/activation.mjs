// Activation benchmark: the extension's own work from activation to the Plan view being ready
// for a plan of 50 lanes, measured inside a real VS Code (the offline test host), and the size
// of the minified extension bundle.
//
//   node bench/activation.mjs [--rounds=5]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number((process.argv.find((a) => a.startsWith('--rounds=')) ?? '--rounds=5').split('=')[1]);
execFileSync(process.execPath, [path.join(repo, 'esbuild.config.mjs'), '--production'], { stdio: 'inherit', cwd: repo });
const bundle = statSync(path.join(repo, 'dist/extension.js')).size;
await esbuild.build({
  entryPoints: [path.join(repo, 'test/integration/suite/bench.ts')],
  outfile: path.join(repo, 'out/bench/activation.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  external: ['vscode'],
  logLevel: 'error',
});

const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'lanes-bench-act-')));
const ws = path.join(base, 'ws');
mkdirSync(path.join(ws, '.lanes'), { recursive: true });
const lanes = Array.from({ length: 50 }, (_, i) => ({ id: `lane${i}`, role: i % 3 ? 'implement' : 'test', brief: `Work item ${i}.`, scope: [`pkg${i}/**`], dependsOn: i >= 10 ? [`lane${i - 10}`] : undefined, agent: { command: ['true'] } }));
writeFileSync(path.join(ws, '.lanes/plan.json'), JSON.stringify({ version: 1, goal: 'Fifty lanes', lanes }, null, 2));
execFileSync('git', ['init', '-q', ws]);

const results = [];
for (let r = 0; r < rounds; r++) {
  const out = path.join(base, `r${r}.json`);
  const res = spawnSync(process.execPath, [path.join(repo, 'test/integration/host/run.js'), `--workspace=${ws}`, `--tests=${path.join(repo, 'out/bench/activation.js')}`], {
    cwd: repo,
    env: { ...process.env, LANES_BENCH_OUT: out },
    encoding: 'utf8',
  });
  if (res.status !== 0) {
    console.error(res.stdout, res.stderr);
    process.exit(1);
  }
  results.push(JSON.parse(readFileSync(out, 'utf8')));
}
rmSync(base, { recursive: true, force: true });
const med = (k) => {
  const xs = results.map((x) => x[k]).sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
};
console.log(`activation with a plan of ${results[0].lanes} lanes, ${rounds} runs in a real VS Code (medians):`);
console.log(`  activate() itself (synchronous work):        ${med('activateSyncMs')} ms`);
console.log(`  activation until the model is ready:          ${med('readyMs')} ms  (target: under 50 ms of the extension's own work)`);
console.log(`  Plan view children + items for all lanes:     ${med('treeMs')} ms`);
console.log(`  extension bundle (minified):                  ${(bundle / 1024).toFixed(0)} KB  (target: under 500 KB)`);
