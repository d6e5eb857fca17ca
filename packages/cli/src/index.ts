/**
 * `@mcp-sessions/cli`: the `mcp-sessions` command, and the store specs it shares with servers
 * (`openStore('sqlite:./sessions.db')`).
 */
export { type CliIo, DEFAULT_LIST_LIMIT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, runCli } from './cli';
export {
  type OpenStoreOptions,
  openBus,
  openStore,
  parseStoreSpec,
  STORE_SPEC_FORMS,
  type StoreSpec,
} from './spec';
