import { describe, expect, it } from '@jest/globals';
import type { OrganizationRole, PlatformRole, Scope } from '../../src/db/entities/index.js';
import { decide, roleIn, type Principal } from '../../src/api/auth/policy.js';

const child = ['child', 'parent', 'root'];
const parent = ['parent', 'root'];

function user(memberships: Record<string, OrganizationRole>, platformRole: PlatformRole | null = null): Principal {
  return { kind: 'user', id: 'user:u', platformRole, scopes: ['read', 'write'], confinedTo: null, memberships: new Map(Object.entries(memberships)) };
}
function key(scopes: Scope[], confinedTo: string | null, platformRole: PlatformRole | null = null): Principal {
  return { kind: 'api_key', id: 'k', platformRole, scopes, confinedTo, memberships: new Map() };
}

describe('roleIn', () => {
  it.each([
    ['own membership', { child: 'MEMBER' }, child, 'MEMBER'],
    ['an OWNER of the parent in the child', { parent: 'OWNER' }, child, 'OWNER'],
    ['an ADMIN of the grandparent in the child', { root: 'ADMIN' }, child, 'ADMIN'],
    ['a MEMBER of the parent: not carried down', { parent: 'MEMBER' }, child, null],
    ['a child role never reaches the parent', { child: 'OWNER' }, parent, null],
    ['own role wins over an inherited one', { child: 'MEMBER', parent: 'OWNER' }, child, 'MEMBER'],
    ['the strongest inherited role', { parent: 'ADMIN', root: 'BILLING_ADMIN' }, child, 'BILLING_ADMIN'],
    ['no membership', {}, child, null],
  ] as const)('%s', (_, memberships, ancestry, expected) => {
    expect(roleIn(user(memberships), ancestry)).toBe(expected);
  });

  it('treats a confined key as OWNER of its organization and below, and as nothing above', () => {
    expect(roleIn(key(['write'], 'parent'), child)).toBe('OWNER');
    expect(roleIn(key(['write'], 'child'), parent)).toBeNull();
  });
});

describe('decide', () => {
  it.each([
    ['OWNER updates its organization', user({ child: 'OWNER' }), 'organization.update', child, 'allow'],
    ['MEMBER may read but not update', user({ child: 'MEMBER' }), 'organization.update', child, 'forbidden'],
    ['MEMBER reads its organization', user({ child: 'MEMBER' }), 'organization.read', child, 'allow'],
    ['a stranger cannot see the organization at all', user({ other: 'OWNER' }), 'organization.read', child, 'not_visible'],
    ['a child OWNER cannot see the parent', user({ child: 'OWNER' }), 'organization.read', parent, 'not_visible'],
    ['ADMIN of the parent cannot write members of the child', user({ parent: 'ADMIN' }), 'member.write', child, 'forbidden'],
    ['finance reads every organization', user({}, 'finance'), 'organization.read', child, 'allow'],
    ['finance does not update organizations', user({}, 'finance'), 'organization.update', child, 'forbidden'],
    ['a read key cannot write', key(['read'], 'child'), 'department.write', child, 'forbidden'],
    ['a write key can read', key(['write'], 'child'), 'department.read', child, 'allow'],
    ['a seats:verify key reads nothing', key(['seats:verify'], 'child'), 'organization.read', child, 'forbidden'],
    ['a platform key without the write scope cannot write', key(['read'], null, 'platform_admin'), 'organization.update', child, 'forbidden'],
    ['finance who is also OWNER updates that organization', user({ child: 'OWNER' }, 'finance'), 'organization.update', child, 'allow'],
    ['finance who is OWNER elsewhere still cannot update this one', user({ other: 'OWNER' }, 'finance'), 'organization.update', child, 'forbidden'],
  ] as const)('%s', (_, principal, action, ancestry, expected) => {
    expect(decide(principal, action, ancestry)).toBe(expected);
  });

  it.each([
    ['any member reads the catalog', user({ child: 'MEMBER' }), 'catalog.read', 'allow'],
    ['a confined key reads the catalog', key(['read'], 'child'), 'catalog.read', 'allow'],
    ['an OWNER of one tenant cannot write the catalog', user({ child: 'OWNER' }), 'catalog.write', 'forbidden'],
    ['an OWNER of one tenant cannot read the whole audit log', user({ child: 'OWNER' }), 'audit.read', 'forbidden'],
    ['an OWNER of one tenant cannot create platform keys', user({ child: 'OWNER' }), 'apiKey.write', 'forbidden'],
    ['finance reads the whole audit log', user({}, 'finance'), 'audit.read', 'allow'],
    ['platform_admin creates root organizations', key(['write'], null, 'platform_admin'), 'organization.create', 'allow'],
    ['someone with no role anywhere reads nothing', user({}), 'catalog.read', 'forbidden'],
  ] as const)('globally: %s', (_, principal, action, expected) => {
    expect(decide(principal, action)).toBe(expected);
  });
});
