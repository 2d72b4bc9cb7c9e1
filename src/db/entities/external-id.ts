import { defineEntity, p } from '@mikro-orm/core';
import { Application } from './application.js';
import { Organization } from './organization.js';

/** How a product application names an organization; unique per application. */
const ExternalIdSchema = defineEntity({
  name: 'ExternalId',
  tableName: 'external_ids',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    application: () => p.manyToOne(Application).deleteRule('restrict'),
    externalId: p.string().length(200),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [
    { name: 'external_ids_application_external_unique', properties: ['application', 'externalId'] },
    { name: 'external_ids_organization_application_unique', properties: ['organization', 'application'] },
  ],
});

export class ExternalId extends ExternalIdSchema.class {}
ExternalIdSchema.setClass(ExternalId);
