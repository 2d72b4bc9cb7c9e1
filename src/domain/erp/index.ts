export * from './documents.js';
export * from './gl-mapping.js';
export * from './build.js';
