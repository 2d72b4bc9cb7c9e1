import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.js';

export interface TemporalClientHandle {
  client: Client;
  connection: Connection;
}

export async function createTemporalClient(
  config: Pick<Config, 'TEMPORAL_NAMESPACE'> & { TEMPORAL_ADDRESS: string },
): Promise<TemporalClientHandle> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  return { client, connection };
}
