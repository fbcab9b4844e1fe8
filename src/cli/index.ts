import { describeError } from '../core/errors';
import { main } from './main';

const controller = new AbortController();
let interrupted = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    process.stderr.write(`\nlanes: ${sig} received, stopping (again to force)…\n`);
    controller.abort();
  });
}

main(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env,
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stdout.isTTY),
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = interrupted ? 130 : code;
  },
  (e: unknown) => {
    // main() answers every error itself; this is the last net, and says no more than the model allows.
    process.stderr.write(`lanes: ${describeError(e).message}\n`);
    process.exitCode = 1;
  },
);
