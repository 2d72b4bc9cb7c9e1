import { loadConfigOrExit } from '../config.js';
import { createLogger } from '../logger.js';
import { createOrm, migrateUp } from './orm.js';

const config = loadConfigOrExit(['DATABASE_URL']);
const logger = createLogger(config, 'ledgerflow-migrate');
const orm = await createOrm(config.DATABASE_URL, 1);
try {
  const applied = await migrateUp(orm);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'schema is up to date');
} finally {
  await orm.close();
}
