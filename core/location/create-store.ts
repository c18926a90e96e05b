/**
 * The storage policy is one setting, not code spread around: a core asks for a location store by
 * kind and gets the LocationStore interface back. Await `store.ping()` before serving: it connects,
 * migrates the schema (Cassandra) and proves the store answers.
 */
import { CassandraLocationStore, type CassandraLocationStoreOptions } from './cassandra-store.js';
import type { LocationStore } from './location-store.js';
import { MemoryLocationStore, type MemoryLocationStoreOptions } from './memory-store.js';

export type LocationStoreConfig = ({ kind: 'memory' } & MemoryLocationStoreOptions) | ({ kind: 'cassandra' } & CassandraLocationStoreOptions);

export function createLocationStore(config: LocationStoreConfig): LocationStore {
  switch (config.kind) {
    case 'memory': {
      const { kind: _kind, ...options } = config;
      return new MemoryLocationStore(options);
    }
    case 'cassandra': {
      const { kind: _kind, ...options } = config;
      return new CassandraLocationStore(options);
    }
    default:
      throw new TypeError(`unknown location store kind '${(config as { kind: string }).kind}'`);
  }
}

export { CassandraLocationStore, MemoryLocationStore };
export type { CassandraLocationStoreOptions, MemoryLocationStoreOptions };
