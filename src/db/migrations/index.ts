import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261121000000 } from './Migration20261121000000.js';
import { Migration20261121010000 } from './Migration20261121010000.js';
import { Migration20261121020000 } from './Migration20261121020000.js';
import { Migration20261121060000 } from './Migration20261121060000.js';

/** Every migration, oldest first. A new migration file is added here as well. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261121000000', class: Migration20261121000000 },
  { name: 'Migration20261121010000', class: Migration20261121010000 },
  { name: 'Migration20261121020000', class: Migration20261121020000 },
  { name: 'Migration20261121060000', class: Migration20261121060000 },
];
