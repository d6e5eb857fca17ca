export { JsonFileSessionStore, type JsonFileSessionStoreOptions } from './store';
