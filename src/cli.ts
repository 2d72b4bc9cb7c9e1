// `npm run cli -- keys create --name ops --scopes read,write [--organization <id>]
//   [--platform-role platform_admin|finance] [--expires-at <ISO>]`: issues an API key and prints
// it once. Talks to DATABASE_URL, or to the embedded PostgreSQL of a running `npm start`.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { issueApiKey } from './api/auth/api-keys.js';
import { loadConfigOrExit } from './config.js';
import { AuditEvent, Organization, platformRoleValues, scopeValues } from './db/entities/index.js';
import { createOrm } from './db/orm.js';

const usage = `usage: npm run cli -- keys create --name <name> --scopes <read,write,usage:write,seats:verify>
         [--organization <organization id>] [--platform-role platform_admin|finance] [--expires-at <ISO 8601>]`;

const KeyOptionsSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    scopes: z
      .string()
      .transform((value) => value.split(',').map((scope) => scope.trim()))
      .pipe(z.array(z.enum(scopeValues)).min(1)),
    organization: z.uuid().optional(),
    'platform-role': z.enum(platformRoleValues).optional(),
    'expires-at': z.iso.datetime().optional(),
  })
  .refine((options) => !(options.organization && options['platform-role']), 'a key confined to an organization has no platform role');

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    scopes: { type: 'string' },
    organization: { type: 'string' },
    'platform-role': { type: 'string' },
    'expires-at': { type: 'string' },
  },
});
if (positionals.join(' ') !== 'keys create') fail(`unknown command: ${positionals.join(' ') || '(none)'}`);
const parsed = KeyOptionsSchema.safeParse(values);
if (!parsed.success) fail(parsed.error.issues.map((issue) => `--${issue.path.join('.') || 'options'}: ${issue.message}`).join('\n'));
const options = parsed.data;

const config = loadConfigOrExit();
const databaseUrl = config.DATABASE_URL ?? `postgres://ledgerflow:ledgerflow@127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}/ledgerflow`;
const orm = await createOrm(databaseUrl, 1);
try {
  const { apiKey, key } = await orm.em.fork().transactional(async (em) => {
    if (options.organization && !(await em.count(Organization, { id: options.organization }))) {
      fail(`no organization ${options.organization}`);
    }
    const issued = issueApiKey(
      em,
      {
        name: options.name,
        scopes: options.scopes,
        organizationId: options.organization,
        platformRole: options['platform-role'],
        expiresAt: options['expires-at'] ? new Date(options['expires-at']) : undefined,
      },
      'cli',
    );
    await em.flush();
    em.create(AuditEvent, {
      occurredAt: new Date(),
      actorType: 'cli',
      actorId: 'cli',
      organizationId: options.organization ?? null,
      action: 'api_key.created',
      targetType: 'api_key',
      targetId: issued.apiKey.id,
      before: null,
      after: { id: issued.apiKey.id, name: issued.apiKey.name, scopes: issued.apiKey.scopes, platformRole: issued.apiKey.platformRole ?? null },
      requestId: 'cli',
    });
    return issued;
  });
  process.stdout.write(`${JSON.stringify({ id: apiKey.id, name: apiKey.name, scopes: apiKey.scopes, key })}\n`);
  process.stderr.write('The key is shown only now: store it.\n');
} finally {
  await orm.close();
}
