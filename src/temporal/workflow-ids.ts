/** Workflow ids are business keys, so a retried start finds the workflow it already started. */
export const workflowIds = {
  billing: (accountId: string) => `billing:${accountId}`,
  subscription: (subscriptionId: string) => `subscription:${subscriptionId}`,
  payment: (invoiceId: string) => `payment:${invoiceId}`,
  webhookEvent: (eventId: string) => `webhook-event:${eventId}`,
  approval: (requestId: string) => `approval:${requestId}`,
  dispute: (disputeId: string) => `dispute:${disputeId}`,
  contract: (contractId: string) => `contract:${contractId}`,
  erp: (integrationId: string, documentType: string, documentId: string) => `erp:${integrationId}:${documentType}:${documentId}`,
} as const;
