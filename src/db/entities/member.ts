import { defineEntity, p } from '@mikro-orm/core';
import { Organization } from './organization.js';

export const organizationRoleValues = ['OWNER', 'BILLING_ADMIN', 'ADMIN', 'MEMBER'] as const;
export type OrganizationRole = (typeof organizationRoleValues)[number];

/** A person's role in an organization; JWT subjects map to members by `userId`. */
const MemberSchema = defineEntity({
  name: 'Member',
  tableName: 'members',
  properties: {
    id: p.uuid().primary(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    userId: p.string().length(200),
    email: p.string().length(320).nullable(),
    role: p.enum(organizationRoleValues),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ name: 'members_organization_user_unique', properties: ['organization', 'userId'] }],
  indexes: [{ name: 'members_user_id_index', properties: ['userId'] }],
});

export class Member extends MemberSchema.class {}
MemberSchema.setClass(Member);
