import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { ContractActivities } from '../activities/contracts.js';
import { amendmentRefusal, contractDay, isContractOver, msUntilDay, nextContractStep, renewalRefusal, terminationRefusal, type ContractRefusal } from '../src/domain/index.js';
import { approvalRequest } from './approval.js';
import { answering, loadRowOptions, stepOptions, turns, updateStepOptions } from './update-steps.js';
import { approvalSearchAttributes, type ApprovalRequestState } from './messages/approval.js';
import { domainFailureType } from './messages/failures.js';
import {
  amendContractUpdate,
  contractRefusalFailureType,
  contractSearchAttributes,
  contractStateQuery,
  renewContractUpdate,
  terminateContractUpdate,
  type AmendContractRequest,
  type ContractState,
  type ContractWorkflowInput,
  type RenewContractRequest,
  type TerminateContractRequest,
} from './messages/contract.js';

const { loadContract } = proxyLocalActivities<ContractActivities>(loadRowOptions);
// Database steps, recorded in the workflow's own task: the timers' and an approval's until they happen, an update's a few times.
const { takeContractStep, decideAmendment } = proxyLocalActivities<ContractActivities>(stepOptions);
const { renewContract, terminateContract, planAmendment } = proxyLocalActivities<ContractActivities>(updateStepOptions);

/** What a contract's steps refuse with (the contract's rules, the domain's on terms): answered by the API as the update's problem. */
const refusals = [contractRefusalFailureType, domainFailureType];

function refuse(refusal: ContractRefusal): never {
  throw ApplicationFailure.create({ message: refusal.message, type: contractRefusalFailureType, nonRetryable: true, details: [{ code: refusal.code, status: refusal.status }] });
}

const today = () => contractDay(Date.now());

/**
 * `contract:<id>`: a contract's life. Durable timers wait for its start, its renewal notice
 * (`endDate − noticeDays`: `contract.renewal_upcoming`), a scheduled termination and its end,
 * where it renews (a new term and version, with the uplift) or expires. `renew`, `terminate` and
 * `amend` are Updates whose validators refuse what the contract's state does not allow; an
 * amendment over a `contract_amendment` rule runs its approval as a child workflow and applies
 * only when approved. Each term continues as new, so the history stays one term long.
 */
export async function contractLifecycle(input: ContractWorkflowInput): Promise<ContractState> {
  // Handlers are registered before the first await (an update arriving meanwhile must find them);
  // until the row is read the validators admit all, and the handlers judge in their turn.
  let loaded = false;
  let state = {} as ContractState;
  const load = (async () => {
    state = await loadContract(input.contractId);
    loaded = true;
  })();
  let changes = 0;
  let approvalsRunning = 0;
  const exclusive = turns(load);
  function take(next: ContractState): void {
    if (next.status !== state.status || next.endDate !== state.endDate) {
      upsertSearchAttributes([
        { key: contractSearchAttributes.status, value: next.status },
        { key: contractSearchAttributes.endDate, value: next.endDate },
      ]);
    }
    state = next;
    changes += 1;
  }

  setHandler(contractStateQuery, () => state);
  setHandler(
    renewContractUpdate,
    (request: RenewContractRequest) =>
      exclusive(async () => {
        const refusal = renewalRefusal(state);
        if (refusal) refuse(refusal);
        take(await answering(renewContract({ ...request, contractId: input.contractId }), refusals));
        return state;
      }),
    {
      validator: (_request: RenewContractRequest) => {
        const refusal = loaded ? renewalRefusal(state) : null;
        if (refusal) refuse(refusal);
      },
    },
  );
  setHandler(
    terminateContractUpdate,
    (request: TerminateContractRequest) =>
      exclusive(async () => {
        const refusal = terminationRefusal(state, request.on, today());
        if (refusal) refuse(refusal);
        take(await answering(terminateContract({ ...request, contractId: input.contractId }), refusals));
        return state;
      }),
    {
      validator: (request: TerminateContractRequest) => {
        const refusal = loaded ? terminationRefusal(state, request.on, today()) : null;
        if (refusal) refuse(refusal);
      },
    },
  );
  setHandler(
    amendContractUpdate,
    (request: AmendContractRequest) =>
      exclusive(async () => {
        const refusal = amendmentRefusal(state, request, state.latestVersionFrom);
        if (refusal) refuse(refusal);
        const plan = await answering(planAmendment({ ...request, contractId: input.contractId }), refusals);
        take(plan.state);
        if (plan.approval) void runApproval(request.amendmentId, plan.approval);
        return plan.amendment;
      }),
    {
      validator: (request: AmendContractRequest) => {
        const refusal = loaded ? amendmentRefusal(state, request, state.latestVersionFrom) : null;
        if (refusal) refuse(refusal);
      },
    },
  );

  /** The amendment's approval as a child: approved, the amendment becomes a version; otherwise it is rejected. */
  async function runApproval(amendmentId: string, request: ApprovalRequestState): Promise<void> {
    approvalsRunning += 1;
    try {
      const decided = await executeChild(approvalRequest, {
        workflowId: `approval:${request.id}`,
        args: [{ request }],
        typedSearchAttributes: [
          { key: approvalSearchAttributes.organizationId, value: request.organizationId },
          { key: approvalSearchAttributes.subjectType, value: request.subjectType },
          { key: approvalSearchAttributes.status, value: request.status },
        ],
      });
      await exclusive(async () => take(await decideAmendment({ contractId: input.contractId, amendmentId, approved: decided.status === 'approved' })));
    } finally {
      approvalsRunning -= 1;
    }
  }

  try {
    await load;
  } catch (error) {
    // The API's transaction rolled back: there is no contract to follow.
    if (error instanceof ActivityFailure) throw ApplicationFailure.nonRetryable(`contract ${input.contractId} was never committed`, 'ContractMissing');
    throw error;
  }
  upsertSearchAttributes([
    { key: contractSearchAttributes.status, value: state.status },
    { key: contractSearchAttributes.endDate, value: state.endDate },
  ]);

  const termEnd = state.endDate;
  while (!isContractOver(state.status)) {
    const step = nextContractStep(state);
    if (step === null) break;
    const seen = changes;
    const waitMs = msUntilDay(step.on, Date.now());
    if (waitMs > 0 && (await condition(() => changes !== seen, waitMs))) continue;
    await exclusive(async () => {
      if (changes === seen) take(await takeContractStep({ contractId: input.contractId, kind: step.kind, on: step.on }));
    });
    // A new term: the next run starts from it, once no message is being handled and no approval waits.
    if (state.endDate !== termEnd && !isContractOver(state.status)) {
      await condition(() => allHandlersFinished() && approvalsRunning === 0);
      await continueAsNew<typeof contractLifecycle>(input);
    }
  }
  await condition(() => allHandlersFinished() && approvalsRunning === 0);
  return state;
}
