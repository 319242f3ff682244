// ESLint with typescript-eslint's strict type-checked rules: the bug-catching ones (floating
// and misused promises, `any` leaking from JSON, non-exhaustive switches, unused code)
// need the type checker, which Biome does not run. Formatting is Prettier's alone
// (eslint-config-prettier turns off every rule it would fight with).
// Files are found by glob, so new folders under src/ and test/ are linted without a change here.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/', 'coverage/', 'node_modules/', 'var/', 'certs/', 'bench/results/', '.base-dist/'],
  },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.node,
      parserOptions: {
        // Each file is checked with the tsconfig.json nearest to it: the root one for src/,
        // test/tsconfig.json, bench/tsconfig.json, src/admin/ui/tsconfig.json (DOM types).
        // The few config files at the top and scripts/ belong to no project.
        projectService: {
          allowDefaultProject: ['*.js', '*.ts', 'scripts/*.mjs'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: ['error', 'always'],
      // Off: with noUncheckedIndexedAccess, `list[i]!` after a bounds check is the idiom (500+ uses).
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Off: `(x) => void f(x)` and `() => done()` arrow shorthands are style, not a bug class.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Off: shared objects are closures behind interfaces with method signatures (no `this`),
      // so destructuring them is safe and the rule cannot tell; classes keep #private state.
      '@typescript-eslint/unbound-method': 'off',
      // Off: TypeScript keeps narrowings across awaits and callbacks (a flag a signal handler
      // sets reads as always false; a re-check after socket.read() as constant), so its
      // reports here were mostly such false alarms. Its real finds were fixed when it was on.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Off: a cast to a class is how the tests make doubles and narrow node's wider socket
      // types; src/ had no such cast left to hide a bug behind.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      // Off: the HTTP/1.1 parsers and the log escapers match control bytes on purpose.
      'no-control-regex': 'off',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      // Event handlers that are async are fine when they catch their own errors; the rule
      // still flags a promise passed where a void callback is expected.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: true, attributes: false } }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'all', caughtErrorsIgnorePattern: '^_' },
      ],
      // Numbers and booleans in template strings are what log and error messages are made of.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    // The stats page's script runs in the browser.
    files: ['src/admin/ui/stats.ts'],
    languageOptions: { globals: globals.browser },
  },
  {
    // Plain JavaScript has no annotations: every parameter is `any`, so the no-unsafe-*
    // family would flag each use of one, and a catch callback cannot be typed `unknown`.
    // The promise rules still apply.
    files: ['**/*.js', '**/*.mjs'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/restrict-plus-operands': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'off',
    },
  },
  prettier,
);
