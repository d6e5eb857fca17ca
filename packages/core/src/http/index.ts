/**
 * `@mcp-sessions/core/http`: the MCP Streamable HTTP integration (peer: `@modelcontextprotocol/sdk`).
 */
export * from './agent-state';
export * from './event-store';
export * from './handler';
export * from './node';
