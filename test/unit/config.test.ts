import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('applies the defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'ledgerflow',
      EMBEDDED_POSTGRES_PORT: 54329,
      TEMPORAL_UI_PORT: 8233,
    });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('refuses private webhook targets unless WEBHOOK_ALLOW_PRIVATE_TARGETS says otherwise', () => {
    expect(loadConfig({}).WEBHOOK_ALLOW_PRIVATE_TARGETS).toBe(false);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_TARGETS: '1' }).WEBHOOK_ALLOW_PRIVATE_TARGETS).toBe(true);
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE_TARGETS: '0' }).WEBHOOK_ALLOW_PRIVATE_TARGETS).toBe(false);
  });

  it('treats an empty value as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '' });
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['TEMPORAL_ADDRESS', 'localhost'],
    ['LOG_LEVEL', 'loud'],
    ['LEDGERFLOW_ADMIN_KEY', 'too-short'],
    ['STRIPE_SECRET_KEY', 'pk_test_publishable'],
    ['WEBHOOK_ALLOW_PRIVATE_TARGETS', 'sometimes'],
  ])('names %s when its value %p is invalid', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^  - ${name}: `, 'm'));
  });

  it('reports every invalid variable at once', () => {
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'y' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((issue) => issue.split(':')[0]).sort()).toEqual(['LOG_LEVEL', 'PORT']);
    }
  });

  it('names a variable this process requires when it is missing', () => {
    expect(() => loadConfig({ TEMPORAL_ADDRESS: '127.0.0.1:7233' }, ['DATABASE_URL', 'TEMPORAL_ADDRESS'])).toThrow(
      /DATABASE_URL: required by this process/,
    );
    expect(
      loadConfig({ DATABASE_URL: 'postgres://u:p@h:5432/d', TEMPORAL_ADDRESS: 'temporal:7233' }, ['DATABASE_URL', 'TEMPORAL_ADDRESS']),
    ).toMatchObject({ DATABASE_URL: 'postgres://u:p@h:5432/d', TEMPORAL_ADDRESS: 'temporal:7233' });
  });
});
