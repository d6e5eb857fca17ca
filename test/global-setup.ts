/**
 * Starts the real servers the suites need, once per `vitest run`, and tells the tests where they
 * are through environment variables. A URL already set in the environment is used as it is.
 * A server that cannot be started leaves its variable unset: the suites that need it skip and
 * print why, and `MCP_SESSIONS_REQUIRE_SERVICES=1` (set by CI) turns that into a failure.
 */
import { rmSync } from 'node:fs';
import { pgBinDir, startPostgres, startRedis, startRedisCluster, which } from './services';

export default async function setup() {
  const stops: Array<() => Promise<void>> = [];
  const missing: string[] = [];
  const env = process.env;

  if (!env.MCP_SESSIONS_TEST_REDIS_URL) {
    if (which('redis-server')) {
      const redis = await startRedis();
      env.MCP_SESSIONS_TEST_REDIS_URL = redis.url;
      stops.push(async () => {
        await redis.stop();
        rmSync(redis.dir, { recursive: true, force: true });
      });
    } else missing.push('redis-server');
  }
  if (!env.MCP_SESSIONS_TEST_REDIS_CLUSTER_URLS && which('redis-server')) {
    const cluster = await startRedisCluster();
    env.MCP_SESSIONS_TEST_REDIS_CLUSTER_URLS = cluster.urls.join(',');
    stops.push(cluster.stop);
  }
  if (!env.MCP_SESSIONS_TEST_POSTGRES_URL) {
    if (pgBinDir()) {
      const pg = await startPostgres();
      env.MCP_SESSIONS_TEST_POSTGRES_URL = pg.url;
      stops.push(async () => {
        await pg.stop();
        rmSync(pg.dir, { recursive: true, force: true });
      });
    } else missing.push('postgres');
  }
  if (missing.length > 0) {
    const message = `test services not available: ${missing.join(', ')} (run \`npm test\`, which installs them)`;
    if (env.MCP_SESSIONS_REQUIRE_SERVICES === '1') throw new Error(message);
    process.stderr.write(`\n!!! ${message}: their suites will be skipped\n\n`);
  }
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}
