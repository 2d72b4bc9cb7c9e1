import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261121000000 } from './Migration20261121000000.js';
import { Migration20261121010000 } from './Migration20261121010000.js';
import { Migration20261121020000 } from './Migration20261121020000.js';
import { Migration20261121030000 } from './Migration20261121030000.js';
import { Migration20261121040000 } from './Migration20261121040000.js';
import { Migration20261121050000 } from './Migration20261121050000.js';
import { Migration20261121060000 } from './Migration20261121060000.js';
import { Migration20261121070000 } from './Migration20261121070000.js';
import { Migration20261121080000 } from './Migration20261121080000.js';
import { Migration20261122000000 } from './Migration20261122000000.js';
import { Migration20261203000000 } from './Migration20261203000000.js';
import { Migration20261203010000 } from './Migration20261203010000.js';
import { Migration20261205000000 } from './Migration20261205000000.js';
import { Migration20261205010000 } from './Migration20261205010000.js';
import { Migration20261205020000 } from './Migration20261205020000.js';
import { Migration20261205030000 } from './Migration20261205030000.js';

/** Every migration, oldest first. A new migration file is added here as well. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261121000000', class: Migration20261121000000 },
  { name: 'Migration20261121010000', class: Migration20261121010000 },
  { name: 'Migration20261121020000', class: Migration20261121020000 },
  { name: 'Migration20261121030000', class: Migration20261121030000 },
  { name: 'Migration20261121040000', class: Migration20261121040000 },
  { name: 'Migration20261121050000', class: Migration20261121050000 },
  { name: 'Migration20261121060000', class: Migration20261121060000 },
  { name: 'Migration20261121070000', class: Migration20261121070000 },
  { name: 'Migration20261121080000', class: Migration20261121080000 },
  { name: 'Migration20261122000000', class: Migration20261122000000 },
  { name: 'Migration20261203000000', class: Migration20261203000000 },
  { name: 'Migration20261203010000', class: Migration20261203010000 },
  { name: 'Migration20261205000000', class: Migration20261205000000 },
  { name: 'Migration20261205010000', class: Migration20261205010000 },
  { name: 'Migration20261205020000', class: Migration20261205020000 },
  { name: 'Migration20261205030000', class: Migration20261205030000 },
];
