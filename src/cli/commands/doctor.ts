import { doctor } from '../../core/agents/doctor';
import { Command, EXIT_OK, JSON_OPTION, printJson, style } from '../context';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check which agent CLIs are installed, their versions, the flags they accept and their authentication',
  usage: 'lanes doctor [--json]',
  description:
    "For every preset: whether its CLI is on PATH and which version; whether that version accepts the preset's flags (read from its own --help); " +
    'what it needs to authenticate (which variables are set, which login files exist; values are never printed). Also git, and whether a lane sandbox tool is present.',
  options: [JSON_OPTION],
  examples: ['lanes doctor', 'lanes doctor --json'],
  async run(args, io) {
    const r = await doctor(io.env);
    if (args.options.json) {
      printJson(io, r);
      return EXIT_OK;
    }
    const s = style(io);
    io.out(`${r.git ? s.green('✓') : s.red('✗')} ${r.git ?? 'git is not installed'}\n`);
    const w = Math.max(...r.agents.map((a) => a.label.length));
    for (const a of r.agents) {
      const ok = a.path && !a.problems.length;
      const mark = ok ? s.green('✓') : a.path ? s.yellow('!') : s.red('✗');
      const what = a.path ? `${a.version ?? '(version unknown)'}  ${s.dim(a.path)}` : 'not installed';
      io.out(`${mark} ${a.label.padEnd(w)}  ${what}\n`);
      if (a.path) {
        const flags = a.flags.map((f) => (f.accepted === false ? s.red(`${f.flag} ✗`) : f.accepted ? `${f.flag} ✓` : `${f.flag} ?`)).join(' ');
        io.out(`    flags: ${flags}\n`);
      }
      const set = a.auth.vars.filter((v) => v.set).map((v) => v.name);
      const files = a.auth.files.filter((f) => f.exists).map((f) => f.path);
      io.out(`    auth: ${a.auth.ready ? [...set.map((n) => `${n} is set`), ...files.map((f) => `login at ${f}`)].join(', ') : s.yellow(`none found (${a.auth.howTo})`)}\n`);
      for (const p of a.problems.filter((x) => !x.startsWith('not authenticated'))) io.out(s.yellow(`    ! ${p}\n`));
    }
    io.out(`${r.sandbox.available ? s.green('✓') : s.yellow('!')} sandbox: ${r.sandbox.note}\n`);
    return EXIT_OK;
  },
};
