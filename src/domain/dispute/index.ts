export * from './dispute.js';
