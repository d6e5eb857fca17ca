export { MemorySessionBus, type MemorySessionBusOptions } from './bus';
export { MemorySessionStore } from './store';
