// The on-disk feature store (see feature_store.ts) and what lists and prunes it.
export { openFeatureStore, readStoreMeta, featureStoreDir, FeatureStore, FeatureStoreFullError, FEATURE_PRECISIONS, DEFAULT_STORE_MEMORY_BYTES, formatBytes } from './feature_store.js';
export type { FeaturePrecision, FeatureStoreDescription, FeatureStoreOptions, FeatureStoreMeta, RecordWrite } from './feature_store.js';
export { fileIdentityKey, fileIdentityKeys, type FileIdentityMode } from './file_identity.js';
export { listCache, pruneCache, type CacheItem, type CacheListing, type PruneOptions } from './cache_admin.js';
