export * from './proration.js';
export * from './subscription.js';
export * from './subscription-lines.js';
export * from './snapshot.js';
export * from './terms.js';
export * from './changes.js';
