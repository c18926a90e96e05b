export * from './transport.js';
export * from './errors.js';
export { responseTarget, unbracket } from './response-target.js';
export { UdpTransport, type UdpTransportOptions } from './udp-transport.js';
export { TcpTransport, type TcpTransportOptions } from './tcp-transport.js';
export { TransportSet, type TransportSetOptions } from './transport-set.js';
