/**
 * `contract:<id>` in the time-skipping server, with its activities faked over an in-memory
 * contract (the database's rows): the notice, the renewal with its uplift, the expiry, a
 * termination and an amendment's approval run on the workflow's own durable timers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ApprovalActivities } from '../../activities/approvals.js';
import type { ContractActivities } from '../../activities/contracts.js';
import {
  addMonths,
  amendedTerms,
  computeInvoice,
  formatDayOf,
  isLeapYear,
  MS_PER_DAY,
  noticeDate,
  openApproval,
  parseDay,
  statusAfter,
  upliftedTerms,
  type BillingContract,
  type ContractTerms,
  type ContractVersion,
} from '../../src/domain/index.js';
import type { contractLifecycle } from '../../workflows/contract.js';
import { decideApprovalUpdate } from '../../workflows/messages/approval.js';
import { amendContractUpdate, contractStateQuery, terminateContractUpdate, type ContractState } from '../../workflows/messages/contract.js';
import { invoiceInput, plan, subscription } from '../unit/domain/fixtures/builders.js';
import { eventually, recordHistory } from './support/subscriptions.js';
import { startTimeSkippingWorker, type TimeSkippingWorker } from './support/time-skipping.js';

const taskQueue = 'contracts';
const origin = { actorType: 'user', actorId: 'user:finance', requestId: 'test' };

let env: TestWorkflowEnvironment;
let temporal: TimeSkippingWorker;

/** A contract as the fake activities keep it, and what happened to it at which workflow time. */
interface FakeContract {
  state: ContractState;
  versions: ContractVersion[];
  terminationFee: number;
  steps: { kind: string; day: number }[];
  amendments: Map<string, { changes: Partial<ContractTerms>; effectiveAt: string; status: string }>;
}
const contracts = new Map<string, FakeContract>();
const contractOf = (id: string) => contracts.get(id)!;
/** The contract's first day: days are counted from it. */
let startDay = 0;
/** Calendar days since the contract's start, in the test server's time. */
const dayNow = async () => parseDay(formatDayOf(await env.currentTimeMs())) - startDay;

const latestTerms = (contract: FakeContract) => contract.versions.at(-1)!.terms;
function addVersion(contract: FakeContract, effectiveFrom: string, terms: ContractTerms): void {
  contract.versions.push({ version: contract.versions.length + 1, effectiveFrom, terms });
  contract.state = { ...contract.state, version: contract.versions.length, latestVersionFrom: effectiveFrom };
}

const contractActivities: ContractActivities = {
  loadContract: async (id) => contractOf(id).state,
  takeContractStep: async ({ contractId, kind, on }) => {
    const contract = contractOf(contractId);
    contract.steps.push({ kind, day: await dayNow() });
    const { state } = contract;
    if (kind === 'end' && state.autoRenew) {
      addVersion(contract, state.endDate, upliftedTerms(latestTerms(contract), state.renewalUpliftPercent));
      contract.state = { ...contract.state, status: 'active', endDate: addMonths(state.endDate, state.renewalTermMonths) };
    } else {
      contract.state = { ...state, status: statusAfter(kind, state), ...(kind === 'notice' ? { noticeSentFor: state.endDate } : {}) };
    }
    expect(on <= formatDayOf(await env.currentTimeMs())).toBe(true);
    return contract.state;
  },
  renewContract: async ({ contractId }) => contractOf(contractId).state,
  terminateContract: async ({ contractId, on }) => {
    const contract = contractOf(contractId);
    contract.state = { ...contract.state, terminatesOn: on };
    return contract.state;
  },
  planAmendment: async (input) => {
    const contract = contractOf(input.contractId);
    contract.amendments.set(input.amendmentId, { changes: input.changes, effectiveAt: input.effectiveAt, status: 'pending_approval' });
    const approval = openApproval(
      { id: `approval-${input.amendmentId}`, organizationId: contract.state.organizationId, subjectType: 'contract_amendment', requestedBy: input.requestedBy, levels: [{ role: 'platform_admin', approvers: [], quorum: 1, timeoutHours: null, onTimeout: null }] },
      new Date(await env.currentTimeMs()).toISOString(),
    );
    return { state: contract.state, amendment: { amendmentId: input.amendmentId, status: 'pending_approval', version: null, approvalRequestId: approval.id }, approval };
  },
  decideAmendment: async ({ contractId, amendmentId, approved }) => {
    const contract = contractOf(contractId);
    const amendment = contract.amendments.get(amendmentId)!;
    amendment.status = approved ? 'applied' : 'rejected';
    if (approved) addVersion(contract, amendment.effectiveAt, amendedTerms(latestTerms(contract), amendment.changes));
    return contract.state;
  },
};

/** The child approval's steps: its row "commits" at once and its writes go nowhere. */
const approvalActivities: ApprovalActivities = {
  confirmApprovalRequest: async () => undefined,
  writeApprovalTransition: async () => undefined,
  executeApprovedSubject: async () => ({ status: 'executed', resultId: null, detail: null }),
  carryOutAndRecord: async (approved) => ({ status: 'executed', resultId: null, detail: null, at: approved.decidedAt ?? approved.timeline.at(-1)!.at }),
};

beforeAll(async () => {
  temporal = await startTimeSkippingWorker(taskQueue, { ...contractActivities, ...approvalActivities });
  env = temporal.env;
}, 120_000);
afterAll(async () => {
  await temporal?.stop();
});

let sequence = 0;
const team = plan({ code: 'team', name: 'Team', basePrice: 10_000, seatPrice: 0 });

/**
 * A 12-month contract with 30 days' notice, scheduled to start on the next January 1st of a
 * common year (so its term is 365 days whatever day the suite runs), with its workflow started.
 */
async function startContract(options: { autoRenew: boolean; upliftPercent?: string }) {
  sequence += 1;
  let year = new Date(await env.currentTimeMs()).getUTCFullYear() + 1;
  while (isLeapYear(year)) year += 1;
  const startDate = `${year}-01-01`;
  startDay = parseDay(startDate);
  const id = `contract-${sequence}`;
  const terms: ContractTerms = { discountPercent: '0', committedAmount: 0, commitmentPeriod: 'month', priceOverrides: [{ planCode: 'team', basePrice: 8_000 }], sla: null };
  contracts.set(id, {
    state: {
      id,
      organizationId: 'org_parent',
      status: 'draft',
      startDate,
      endDate: addMonths(startDate, 12),
      noticeDays: 30,
      autoRenew: options.autoRenew,
      renewalTermMonths: 12,
      renewalUpliftPercent: options.upliftPercent ?? '0',
      terminatesOn: null,
      noticeSentFor: null,
      version: 1,
      latestVersionFrom: startDate,
    },
    versions: [{ version: 1, effectiveFrom: startDate, terms }],
    terminationFee: 50_000,
    steps: [],
    amendments: new Map(),
  });
  const handle = await env.client.workflow.start<typeof contractLifecycle>('contractLifecycle', { workflowId: `contract:${id}`, taskQueue, args: [{ contractId: id }] });
  return { id, handle, startDate, contract: contractOf(id) };
}

/** Sleeps the test server until `day` calendar days after the contract's start, plus an hour. */
async function sleepUntilDay(day: number) {
  const target = (startDay + day) * MS_PER_DAY + 3_600_000;
  const now = await env.currentTimeMs();
  if (target > now) await env.sleep(target - now);
}

/** What the contract makes the invoice of `targetDate` bill for the Team plan. */
function invoicedBase(contract: FakeContract, targetDate: string, terminated = false): number[] {
  const billing: BillingContract = {
    id: contract.state.id,
    name: 'Deal',
    organizationId: 'org_parent',
    startDate: contract.state.startDate,
    endDate: contract.state.terminatesOn ?? contract.state.endDate,
    versions: contract.versions,
    ...(terminated && contract.state.terminatesOn ? { terminationFee: { amount: contract.terminationFee, on: contract.state.terminatesOn } } : {}),
  };
  const invoice = computeInvoice(invoiceInput({ targetDate, contracts: [billing], subscriptions: [subscription({ startDate: targetDate, phases: [{ effectiveAt: targetDate, plan: team, seats: 1 }] })] }));
  return invoice.lines.map((line) => line.amount);
}

describe('contractLifecycle in the time-skipping environment', () => {
  it('a 12-month contract with 30 days notice: renewal_upcoming on day 335, renewed on day 365 with a 5 % uplift, the next term invoiced at the uplifted price', async () => {
    const { handle, contract, startDate } = await startContract({ autoRenew: true, upliftPercent: '5' });
    await sleepUntilDay(335);
    await eventually(async () => (contract.steps.length >= 2 ? true : undefined));
    expect(contract.steps).toEqual([
      { kind: 'activate', day: 0 },
      { kind: 'notice', day: 335 },
    ]);
    expect(contract.state.status).toBe('renewing');
    await sleepUntilDay(365);
    await eventually(async () => (contract.steps.length >= 3 ? true : undefined));
    expect(contract.steps[2]).toEqual({ kind: 'end', day: 365 });
    expect(contract.state).toMatchObject({ status: 'active', version: 2, endDate: addMonths(startDate, 24) });
    // The next term bills 8,000 × 1.05.
    expect(invoicedBase(contract, addMonths(startDate, 12))).toEqual([8_400]);
    expect(invoicedBase(contract, addMonths(startDate, 11))).toEqual([8_000]);
    // The renewed term runs in a new run of the same workflow, which notices again 30 days before its end.
    const renewed = await eventually(async () => {
      const description = await handle.describe();
      return description.runId !== handle.firstExecutionRunId ? description : undefined;
    });
    expect(renewed.status.name).toBe('RUNNING');
    await recordHistory('contract-renewed', handle, handle.firstExecutionRunId);
    // The second term may hold a February 29th: its notice day is counted from its own end.
    const secondNotice = parseDay(noticeDate(contract.state.endDate, 30)) - startDay;
    await sleepUntilDay(secondNotice);
    await eventually(async () => (contract.steps.length >= 4 ? true : undefined));
    expect(contract.steps[3]).toEqual({ kind: 'notice', day: secondNotice });
  });

  it('one that does not renew expires at its end, and its workflow completes', async () => {
    const { handle, contract } = await startContract({ autoRenew: false });
    await sleepUntilDay(365);
    const final = await handle.result();
    expect(final).toMatchObject({ status: 'expired' });
    expect(contract.steps).toEqual([
      { kind: 'activate', day: 0 },
      { kind: 'notice', day: 335 },
      { kind: 'end', day: 365 },
    ]);
    await recordHistory('contract-expired', handle);
  });

  it('terminated mid-term: it ends on the chosen day, and the termination fee is on the next invoice', async () => {
    const { handle, contract, startDate } = await startContract({ autoRenew: true });
    const on = addMonths(startDate, 4);
    await handle.executeUpdate(terminateContractUpdate, { args: [{ on, reason: 'Acquired.', origin }] });
    await sleepUntilDay(parseDay(on) - parseDay(startDate));
    expect(await handle.result()).toMatchObject({ status: 'terminated', terminatesOn: on });
    expect(contract.steps).toEqual([
      { kind: 'activate', day: 0 },
      { kind: 'terminate', day: parseDay(on) - parseDay(startDate) },
    ]);
    // From the termination day: the fee, and list price again.
    expect(invoicedBase(contract, on, true)).toEqual([50_000, 10_000]);
    await recordHistory('contract-terminated', handle);
  });

  it('an amendment over an approval rule waits for its approval (a child workflow) and applies only when approved', async () => {
    const { handle, contract, startDate } = await startContract({ autoRenew: true });
    const amendedFrom = addMonths(startDate, 2);
    const pending = await handle.executeUpdate(amendContractUpdate, {
      args: [{ amendmentId: 'amendment-1', changes: { priceOverrides: [{ planCode: 'team', basePrice: 6_000 }] }, effectiveAt: amendedFrom, reason: 'Volume deal.', requestedBy: 'sales', origin }],
    });
    expect(pending).toMatchObject({ status: 'pending_approval', approvalRequestId: 'approval-amendment-1' });
    await sleepUntilDay(10);
    expect(contract.versions).toHaveLength(1);
    const approval = env.client.workflow.getHandle('approval:approval-amendment-1');
    expect((await approval.describe()).parentExecution?.workflowId).toBe(`contract:${contract.state.id}`);
    await approval.executeUpdate(decideApprovalUpdate, { args: [{ approver: { userId: 'cfo', isPerson: true, platformRole: 'platform_admin', organizationRole: null }, decision: 'approve', comment: null }] });
    await eventually(async () => (contract.versions.length === 2 ? true : undefined));
    expect((await handle.query(contractStateQuery)).version).toBe(2);
    expect(contract.amendments.get('amendment-1')?.status).toBe('applied');
    expect(invoicedBase(contract, amendedFrom)).toEqual([6_000]);
    expect(invoicedBase(contract, addMonths(startDate, 1))).toEqual([8_000]);
    await recordHistory('contract-amended', handle);
  });
});
