/**
 * Health of one core as the edge sees it: a three-state machine driven by OPTIONS probes (and by
 * transport errors on real traffic). 'unknown' until the first answer, so a freshly started edge
 * can already forward; 'down' after `failureThreshold` failures in a row; 'up' again on the first
 * success, so a core that comes back takes traffic within one probe interval.
 */
export type CoreHealthState = 'unknown' | 'up' | 'down';

export interface CoreAddress {
  host: string;
  port: number;
}

export class CoreHealth {
  readonly address: CoreAddress;
  /** `host:port`, also the label in metrics and /status. */
  readonly id: string;
  readonly #failureThreshold: number;
  #state: CoreHealthState = 'unknown';
  #failures = 0;
  #lastChange: number;
  #onChange: ((core: CoreHealth, from: CoreHealthState) => void) | undefined;

  constructor(address: CoreAddress, failureThreshold: number, onChange?: (core: CoreHealth, from: CoreHealthState) => void) {
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) throw new TypeError('failureThreshold must be a positive integer');
    this.address = address;
    this.id = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
    this.#failureThreshold = failureThreshold;
    this.#onChange = onChange;
    this.#lastChange = Date.now();
  }

  get state(): CoreHealthState {
    return this.#state;
  }

  /** A core we may send to: up, or not yet probed. */
  get usable(): boolean {
    return this.#state !== 'down';
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  get lastChange(): number {
    return this.#lastChange;
  }

  /** Any answer to a probe (even 4xx/5xx: the core is there and parsing SIP). */
  success(): void {
    this.#failures = 0;
    this.#set('up');
  }

  /** A probe timed out or the transport refused the send. */
  failure(): void {
    this.#failures++;
    if (this.#failures >= this.#failureThreshold) this.#set('down');
  }

  #set(next: CoreHealthState): void {
    const from = this.#state;
    if (from === next) return;
    this.#state = next;
    this.#lastChange = Date.now();
    this.#onChange?.(this, from);
  }
}
