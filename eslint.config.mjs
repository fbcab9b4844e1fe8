// Lint that guards the design (run by `npm test`):
//  - promises: nothing floats. An unawaited state write that rejects kills a CLI with its agents
//    still running; a promise handed to an event that ignores it hides a failure.
//  - layers: src/core is plain Node (no vscode, nothing from the faces above it); src/cli is
//    a face over core (no vscode, no extension); src/webview runs in a browser (no Node, no
//    core beyond shared types); src/shared is pure and shared by both sides.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (patterns, message) => ({
  'no-restricted-imports': ['error', { patterns: patterns.map((group) => ({ group: [group], message })) }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vscode-test/**', 'media/**', 'test/fixtures/**', '**/*.mjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
      'no-control-regex': 'off',
      'preserve-caught-error': 'off',
    },
  },
  {
    // Tests load fixtures and mocha's pieces by path at run time.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-regex-spaces': 'off' },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: restrict(['vscode', 'vscode/*', '**/extension/**', '**/cli/**', '**/webview/**', '**/shared/**'], 'src/core is pure Node: no vscode, nothing from the faces above it.'),
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: restrict(['vscode', 'vscode/*', '**/extension/**', '**/webview/**'], 'src/cli is a face over src/core: no vscode, no extension code.'),
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: restrict(['vscode', 'vscode/*', 'node:*', '**/extension/**', '**/cli/**', '**/webview/**'], 'src/shared is pure and used by the host and the webview.'),
  },
  {
    files: ['src/webview/**/*.ts'],
    rules: restrict(['vscode', 'vscode/*', 'node:*', '**/extension/**', '**/cli/**', '../core/**'], 'src/webview runs in a browser: only src/shared.'),
  },
);
