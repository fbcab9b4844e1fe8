/**
 * Plan templates: a good plan without a planner agent. Scopes adapt to the repository's own
 * layout (src/ or lib/, test/ or tests/, docs/), and the verify command to its build tool.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { AgentRef, Lane, Plan, PLAN_VERSION } from './schema';

export interface RepoLayout {
  code: string[];
  tests: string[];
  docs: string[];
  verify?: string;
}

export interface TemplateOptions {
  goal: string;
  agent?: AgentRef;
  layout?: RepoLayout;
  maxParallel?: number;
}

export interface Template {
  name: string;
  summary: string;
  build(o: Required<Pick<TemplateOptions, 'goal'>> & { layout: RepoLayout; agent?: AgentRef; maxParallel?: number }): Plan;
}

const globsFor = (dirs: string[]) => dirs.map((d) => `${d}/**`);

function plan(o: { goal: string; agent?: AgentRef; layout: RepoLayout; maxParallel?: number }, lanes: Lane[]): Plan {
  return {
    version: PLAN_VERSION,
    goal: o.goal,
    maxParallel: o.maxParallel ?? Math.min(4, Math.max(1, lanes.length)),
    ...(o.layout.verify ? { verify: o.layout.verify } : {}),
    ...(o.agent ? { defaults: { agent: o.agent } } : {}),
    lanes,
  };
}

const implementLane = (l: RepoLayout, extra: Partial<Lane> = {}): Lane => ({
  id: 'implement',
  role: 'implement',
  brief:
    'Implement the goal in the production code. Keep changes inside your scope, follow the conventions of the surrounding code, ' +
    'and leave tests and documentation to the lanes that own them. Record any decision other lanes must know (names, signatures, config keys) in the shared memory.',
  scope: globsFor(l.code),
  ...extra,
});

const testLane = (l: RepoLayout, extra: Partial<Lane> = {}): Lane => ({
  id: 'test',
  role: 'test',
  brief:
    'Write tests for the goal: the normal path, edge cases and failures. Read the shared memory for the names and signatures the implement lane chose. ' +
    'Change only test files. When a test exposes a bug in the implementation, keep the test as it is and raise a finding for the implement lane ' +
    '(lanes finding add --to implement --title "…" --command "<the failing test command>" --output-file <its output>).',
  scope: globsFor(l.tests),
  ...extra,
});

const documentLane = (l: RepoLayout, extra: Partial<Lane> = {}): Lane => ({
  id: 'document',
  role: 'document',
  brief:
    'Document the change for users: what it does, how to configure and use it, with an example. Update the README or docs where the feature belongs and add a changelog entry if the project keeps one. ' +
    'Change only documentation.',
  scope: [...globsFor(l.docs), 'README.md', 'CHANGELOG.md'],
  ...extra,
});

export const TEMPLATES: readonly Template[] = [
  {
    name: 'trio',
    summary: 'implement, test and document in parallel, each scoped to its own files',
    build: (o) => plan(o, [implementLane(o.layout), testLane(o.layout), documentLane(o.layout)]),
  },
  {
    name: 'pipeline',
    summary: 'implement first; then test and document in parallel on top of the implementation',
    build: (o) =>
      // The implement lane may be sent back once with a finding of the lanes built on it.
      plan(o, [implementLane(o.layout, { retries: 1 }), testLane(o.layout, { dependsOn: ['implement'] }), documentLane(o.layout, { dependsOn: ['implement'] })]),
  },
  {
    name: 'review',
    summary: 'implement, then a review lane that approves the change or requests changes, which go back to the implementer',
    build: (o) =>
      plan(o, [
        implementLane(o.layout, { retries: 2 }),
        {
          id: 'review',
          role: 'review',
          brief:
            'Review the implement lane\'s change (git log and diff against the run\'s base) for bugs, missing error handling and unclear code. ' +
            'Do not change the code yourself: approve it (lanes finding approve implement) or request changes (lanes finding request-changes implement --title "…" --details "…"), ' +
            'one request per problem, with the file and line. Requested changes go back to the implement lane; you then review its new work again.',
          dependsOn: ['implement'],
        },
      ]),
  },
  {
    name: 'fullstack',
    summary: 'backend and frontend in parallel, then tests and docs on top of both',
    build: (o) =>
      plan(o, [
        { id: 'backend', role: 'implement', brief: 'Implement the server side of the goal: API, data model and validation. Write the API contract you settle on to the shared memory.', scope: ['server/**', 'api/**', 'backend/**'] },
        { id: 'frontend', role: 'implement', brief: 'Implement the user interface of the goal against the API contract in the shared memory.', scope: ['web/**', 'client/**', 'frontend/**', 'ui/**'] },
        testLane(o.layout, { dependsOn: ['backend', 'frontend'] }),
        documentLane(o.layout, { dependsOn: ['backend', 'frontend'] }),
      ]),
  },
  {
    name: 'solo',
    summary: 'one lane: a single agent in its own worktree, verified and merged like any other',
    build: (o) => plan(o, [{ ...implementLane(o.layout), scope: undefined, brief: 'Do the whole goal: code, tests and documentation.' }]),
  },
];

export function findTemplate(name: string): Template | undefined {
  return TEMPLATES.find((t) => t.name === name);
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Look at the repository's top level to pick scopes and a verify command. */
export async function detectLayout(root: string): Promise<RepoLayout> {
  const pick = async (candidates: string[], fallback: string) => {
    const found: string[] = [];
    for (const c of candidates) if (await isDir(path.join(root, c))) found.push(c);
    return found.length ? found : [fallback];
  };
  const code = await pick(['src', 'lib', 'app', 'pkg', 'cmd', 'internal'], 'src');
  const tests = await pick(['test', 'tests', '__tests__', 'spec'], 'test');
  const docs = await pick(['docs', 'doc'], 'docs');
  let verify: string | undefined;
  try {
    const pkg = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    if (pkg.scripts?.test && !/no test specified/.test(pkg.scripts.test)) verify = 'npm test';
  } catch {
    /* not a node project */
  }
  if (!verify) {
    const markers: [string, string][] = [
      ['Cargo.toml', 'cargo test'],
      ['go.mod', 'go test ./...'],
      ['pyproject.toml', 'python -m pytest'],
      ['Makefile', 'make test'],
    ];
    for (const [file, cmd] of markers) {
      try {
        await fs.access(path.join(root, file));
        verify = cmd;
        break;
      } catch {
        /* next */
      }
    }
  }
  return { code, tests, docs, verify };
}

export async function planFromTemplate(name: string, root: string, o: TemplateOptions): Promise<Plan> {
  const t = findTemplate(name);
  if (!t) throw new Error(`unknown template "${name}"; choose one of: ${TEMPLATES.map((x) => x.name).join(', ')}`);
  const layout = o.layout ?? (await detectLayout(root));
  return t.build({ goal: o.goal, agent: o.agent, layout, maxParallel: o.maxParallel });
}
