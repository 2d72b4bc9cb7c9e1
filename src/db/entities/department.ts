import { defineEntity, p } from '@mikro-orm/core';
import { Organization } from './organization.js';

/** A cost center inside an organization; invoice lines are itemized by department. */
const DepartmentSchema = defineEntity({
  name: 'Department',
  tableName: 'departments',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    name: p.string().length(200),
    costCenter: p.string().length(64).nullable(),
    glCode: p.string().length(64).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ name: 'departments_organization_name_unique', properties: ['organization', 'name'] }],
});

export class Department extends DepartmentSchema.class {}
DepartmentSchema.setClass(Department);
