// Loaded by the VS Code extension host as extensionTestsPath (bundled with mocha by run.mjs).
import * as fs from 'fs';
import * as util from 'util';
import Mocha from 'mocha';

export function run(): Promise<void> {
  // console.log in the extension host reaches the workbench without format strings applied:
  // the report goes to a file the runner streams.
  const reportFile = process.env.VSCODE_TEST_REPORT_FILE;
  const write = (line: string) => (reportFile ? fs.appendFileSync(reportFile, line + '\n') : console.log(line));
  (Mocha.reporters.Base as unknown as { consoleLog: (...a: unknown[]) => void }).consoleLog = (...a: unknown[]) => write(util.format(...a));
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60000, reporter: 'spec' });
  const mode = process.env.LANES_TEST_MODE ?? 'trusted';
  if (process.env.LANES_TEST_GREP) mocha.grep(new RegExp(process.env.LANES_TEST_GREP));
  mocha.suite.emit('pre-require', globalThis, 'integration', mocha);
  // Test files register their suites when required (after the globals above exist).
  if (mode === 'untrusted') {
    require('./untrusted.test');
  } else if (mode === 'multi-root') {
    require('./multiroot.test');
  } else {
    require('./activation.test');
    require('./diagnostics.test');
    require('./tasks.test');
    require('./recovery.test');
    require('./panel.test');
    require('./findings.test');
    require('./queue.test');
  }
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const st = runner.stats;
      write(`integration (${mode}): ${st?.passes ?? 0} passed, ${failures} failed, ${st?.pending ?? 0} skipped`);
      if (failures) reject(new Error(`${failures} integration test(s) failed`));
      else resolve();
    });
    runner.on('fail', (test, err) => write(`      FAIL ${test.fullTitle()}: ${(err as Error)?.message}`));
  });
}
