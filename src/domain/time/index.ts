export * from './dates.js';
export * from './calendar.js';
