export * from './rules.js';
export * from './request.js';
