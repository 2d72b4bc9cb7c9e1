import { Client, Connection } from '@temporalio/client';

export interface TemporalClientHandle {
  client: Client;
  connection: Connection;
}

/**
 * A client whose connection is made on first use, so the API starts while Temporal is still
 * down and `/readyz` reports it instead of the process crashing.
 */
export function createTemporalClient(address: string, namespace: string): TemporalClientHandle {
  const connection = Connection.lazy({ address });
  return { client: new Client({ connection, namespace }), connection };
}
