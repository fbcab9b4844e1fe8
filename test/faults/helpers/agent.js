#!/usr/bin/env node
// A scripted agent for the fault suite (the shared fixture agent cannot delete files or say
// which attempt ran where). Steps come as argv elements "op=arg", run in order:
//   record=FILE     append "start <lane> <attempt> <pid>" now and "end <lane> <attempt> <pid>" when
//                   the agent exits normally (a SIGKILL leaves only the start line)
//   write=FILE:TEXT write TEXT (plus a newline) to FILE, relative to the worktree
//   rm=FILE         delete FILE
//   sleep=MS        wait
const fs = require('fs');
const path = require('path');
const lane = process.env.LANES_LANE;
const attempt = process.env.LANES_ATTEMPT || '1';
(async () => {
  for (const a of process.argv.slice(2)) {
    const eq = a.indexOf('=');
    const op = a.slice(0, eq);
    const arg = a.slice(eq + 1);
    switch (op) {
      case 'record':
        fs.appendFileSync(arg, `start ${lane} ${attempt} ${process.pid}\n`);
        process.on('exit', () => fs.appendFileSync(arg, `end ${lane} ${attempt} ${process.pid}\n`));
        break;
      case 'write': {
        const [file, ...rest] = arg.split(':');
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, rest.join(':') + '\n');
        break;
      }
      case 'rm':
        fs.rmSync(arg);
        break;
      case 'sleep':
        await new Promise((r) => setTimeout(r, Number(arg)));
        break;
      default:
        console.error('unknown step ' + a);
        process.exit(99);
    }
  }
})();
