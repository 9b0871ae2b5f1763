import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.bin/**', '**/.turbo/**', '**/build/**', '**/.exp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    // Benchmarks and the CLI print their results for people to read.
    files: ['**/bench/**', 'cli/**', 'e2e/**'],
    rules: { 'no-console': 'off' },
  },
);
