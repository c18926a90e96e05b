/** The edges-and-cores suite with edges reaching the cores over TCP (--core-transport tcp). */
import { edgesAndCoresSuite } from './edges-and-cores-suite.js';

await edgesAndCoresSuite('tcp', ['127.0.0.61', '127.0.0.62']);
