import t from 'tap';
import { MemoryLocationStore } from '../../core/location/memory-store.js';
import { coreNodeSuite } from './core-node-suite.js';

coreNodeSuite(t, async () => new MemoryLocationStore());
