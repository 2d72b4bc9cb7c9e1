import { describe, expect, it } from '@jest/globals';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from '../../src/temporal/worker.js';

const ignore = () => undefined;

describe('workflow bundle', () => {
  it('bundles workflows/ for the deterministic sandbox, so a bad import fails CI', async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: workflowsPath(),
      logger: { trace: ignore, debug: ignore, info: ignore, log: ignore, warn: ignore, error: ignore },
    });
    expect(code).toContain('billingCycle');
    expect(code).not.toMatch(/@mikro-orm|from ['"]pg['"]|require\(['"]stripe['"]\)/);
  }, 120_000);
});
