import { describe, expect, it } from '@jest/globals';
import { bundleWorkflowCode } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';

const BUILTIN_REQUIRE = /require\(["'](?:node:)?(?:fs|path|os|crypto|child_process|net|http|https|stream|buffer|util|worker_threads|process)["']\)/;

describe('domain modules in the Temporal workflow sandbox', () => {
  it(
    'bundle with the Temporal bundler and pull in no Node built-in',
    async () => {
      const workflowsPath = fileURLToPath(new URL('./fixtures/domain-workflow.ts', import.meta.url));
      const bundle = await bundleWorkflowCode({ workflowsPath, logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } });
      expect(bundle.code).toContain('proposeInvoiceWorkflow');
      expect(bundle.code).toContain('computeInvoice');
      expect(bundle.code).toContain('ROUND_HALF_UP');
      expect(bundle.code).not.toMatch(BUILTIN_REQUIRE);
      expect(bundle.code).not.toMatch(/from ["']node:/);
    },
    120_000,
  );
});
