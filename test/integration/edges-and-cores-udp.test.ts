/** The edges-and-cores suite with edges reaching the cores over UDP (the default). */
import { edgesAndCoresSuite } from './edges-and-cores-suite.js';

await edgesAndCoresSuite('udp', ['127.0.0.1', '127.0.0.1']);
