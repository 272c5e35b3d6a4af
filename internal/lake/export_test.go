package lake

// EvictCache is evictCache, for the tests of package lake_test.
var EvictCache = evictCache
