import { defineEntity, p } from '@mikro-orm/core';

/** A product that sells seats and reports usage through Ledgerflow (one backend per application). */
const ApplicationSchema = defineEntity({
  name: 'Application',
  tableName: 'applications',
  properties: {
    id: p.uuid().primary(),
    slug: p.string().length(64).unique(),
    name: p.string().length(200),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  checks: [{ name: 'applications_slug_format', expression: `"slug" ~ '^[a-z0-9][a-z0-9-]{0,63}$'` }],
});

export class Application extends ApplicationSchema.class {}
ApplicationSchema.setClass(Application);
