/** Usage ingestion: recording events against subscriptions and their periods, refusals as codes. */
export { type UsageFailure, type UsageFailureCode, type UsageResult } from './failures.js';
export { type UsageAccess, type UsageEventInput } from './ingest.js';
export { UsageIngestion, type BatchRecorded, type CallerTransaction, type SingleEventOutcome, type UsageIngestionDeps } from './ingestion.js';
export { canonical, quotaOf, uniqueValues, type ReferenceCache } from './reference-cache.js';
