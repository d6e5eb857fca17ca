export * from './bus';
export * from './errors';
export * from './ids';
export * from './json';
export * from './lifecycle';
export * from './manager';
export * from './options';
export * from './store';
