/**
 * The softphone: one SIP.js UserAgent registered through one edge at a time, at most one call, and
 * the flow resilience SIP.js leaves to the application (RFC 5626 outbound: instance id + reg-id,
 * keepalives at the registrar's Flow-Timer, reconnect to the next edge and re-register when a flow
 * fails). The page (app.ts) renders `snapshot` on every `change` event; tests read it too.
 */
import {
  Inviter, Registerer, RegistererState, SessionState, UserAgent,
  type Info, type Invitation, type Referral, type Session, type SessionInviteOptions,
} from 'sip.js';
import type { IncomingResponse } from 'sip.js/lib/core';
import type { SessionDescriptionHandler, SessionDescriptionHandlerOptions as WebSdhOptions } from 'sip.js/lib/platform/web';
import { AudioMeter } from './audio-meter.js';
import { EdgeTransport, FlowFailedError } from './edge-transport.js';
import { FlowBackoff } from './flow-backoff.js';

export type RegistrationState = 'unregistered' | 'connecting' | 'registering' | 'registered' | 'recovering' | 'failed';
export type CallState = 'calling' | 'ringing' | 'incoming' | 'connecting' | 'established' | 'ended';

export interface CallSnapshot {
  /** Increases with every call this page makes or receives. */
  id: number;
  direction: 'outgoing' | 'incoming';
  peer: string;
  state: CallState;
  startedAt?: number;
  endedAt?: number;
  held: boolean;
  remoteHeld: boolean;
  muted: boolean;
  endReason?: string;
  dtmfSent: string;
  dtmfReceived: string;
  transferredTo?: string;
  /** ICE-restart re-INVITEs accepted after the flow moved to another edge during this call. */
  resumes: number;
  /** The edge the call was last resumed through, and when (ms since the epoch). */
  resumedVia?: string;
  resumedAt?: number;
}

export interface PhoneSnapshot {
  domain: string;
  user?: string;
  registration: RegistrationState;
  detail?: string;
  edges: string[];
  edge?: string;
  gruu?: string;
  tempGruu?: string;
  flowTimer?: number;
  keepaliveMs?: number;
  recoveries: number;
  call?: CallSnapshot;
}

export interface PhoneOptions {
  domain: string;
  edges: string[];
  /** Index into `edges` of the first edge to use. */
  startEdge: number;
  audioElement: HTMLAudioElement;
  log?: (line: string) => void;
  trace?: (direction: 'in' | 'out', message: string) => void;
}

/** What the page and tests read from the media path. */
export interface MediaStats {
  bytesReceived: number;
  packetsReceived: number;
  audioLevel: number;
  totalAudioEnergy: number;
  bytesSent: number;
  direction: string | null;
  currentDirection: string | null;
  iceState: string;
  meterLevel: number;
  codec?: string;
  /** a=ice-ufrag of the local and remote descriptions: both change when an ICE restart completed. */
  localIceUfrag?: string;
  remoteIceUfrag?: string;
}

const RECOVERY = { baseMs: 1000, maxMs: 30_000 };

type ReinviteOutcome = { kind: 'accepted' } | { kind: 'pending' } | { kind: 'rejected'; status: number; reason: string } | { kind: 'error'; reason: string };

export class Softphone extends EventTarget {
  readonly #o: PhoneOptions;
  readonly #meter = new AudioMeter();
  #ua: UserAgent | undefined;
  #transport: EdgeTransport | undefined;
  #registerer: Registerer | undefined;
  #session: Session | undefined;
  #call: CallSnapshot | undefined;
  #snap: PhoneSnapshot;
  #backoff: FlowBackoff;
  #recoveryTimer: ReturnType<typeof setTimeout> | undefined;
  #recovering = false;
  /** Bumped by register()/unregister() so callbacks of an older user agent change nothing. */
  #generation = 0;
  #callSeq = 0;
  /** Bumped on every flow failure, so a late answer to a REGISTER sent on an old flow is ignored. */
  #flowEpoch = 0;
  /** Bumped by every call resumption, so an older one still retrying gives up. */
  #resumeSeq = 0;

  constructor(o: PhoneOptions) {
    super();
    this.#o = o;
    this.#snap = { domain: o.domain, registration: 'unregistered', edges: o.edges, recoveries: 0 };
    // One immediate attempt per other edge, then exponential waits.
    this.#backoff = new FlowBackoff({ ...RECOVERY, immediate: Math.max(1, o.edges.length - 1) });
  }

  get snapshot(): PhoneSnapshot {
    return { ...this.#snap, ...(this.#call ? { call: { ...this.#call } } : {}) };
  }

  /** Primes WebAudio; call from a user gesture. */
  primeAudio(): void {
    this.#meter.prime();
  }

  // ---- registration ---------------------------------------------------------------------------

  async register(user: string, password: string): Promise<void> {
    await this.unregister();
    const generation = ++this.#generation;
    this.#backoff.success();
    const uri = UserAgent.makeURI(`sip:${user}@${this.#o.domain}`);
    if (!uri) throw new TypeError(`not a valid user name: ${user}`);
    const trace = this.#o.trace;
    const ua = new UserAgent({
      uri,
      authorizationUsername: user,
      authorizationPassword: password,
      displayName: user,
      transportConstructor: EdgeTransport,
      transportOptions: { servers: this.#o.edges, start: this.#o.startEdge, ...(trace ? { trace } : {}) },
      // RFC 5626 §4.1: one instance id per device, kept across flows and page loads, so a new flow
      // replaces the old binding (same +sip.instance and reg-id) instead of adding one.
      instanceId: instanceIdFor(user),
      // The Registerer adds +sip.instance itself when it has a reg-id; "always added" would put it
      // in the REGISTER Contact twice.
      instanceIdAlwaysAdded: false,
      contactParams: { transport: 'ws' },
      sipExtensionExtraSupported: ['path', 'gruu'],
      // We reconnect ourselves, to the next edge: SIP.js would retry the same server.
      reconnectionAttempts: 0,
      logBuiltinEnabled: true,
      logLevel: 'warn',
      userAgentString: 'sipflow-web-demo (SIP.js 0.21)',
      sessionDescriptionHandlerFactoryOptions: {
        // RECIPES §3: max-bundle breaks on rtpengine answers (no a=group:BUNDLE); no STUN/TURN on a LAN demo.
        peerConnectionConfiguration: { bundlePolicy: 'balanced', iceServers: [] },
        iceGatheringTimeout: 2000,
      },
      delegate: {
        onInvite: (invitation) => this.#onInvite(invitation),
        onDisconnect: (error) => {
          if (generation !== this.#generation) return;
          this.#log(`flow to ${this.#transport?.server} lost${error ? `: ${error.message}` : ''}`);
          if (error) this.#recover(error instanceof FlowFailedError ? error.message : 'WebSocket closed');
        },
      },
    });
    this.#ua = ua;
    this.#transport = ua.transport as unknown as EdgeTransport;
    this.#registerer = new Registerer(ua, { regId: 1, expires: 600 });
    this.#registerer.stateChange.addListener((s) => {
      if (generation !== this.#generation) return;
      if (s === RegistererState.Unregistered && this.#snap.registration === 'registered') this.#set({ registration: 'unregistered', detail: 'registration ended' });
    });
    this.#set({ user, registration: 'connecting', detail: undefined, edge: this.#transport.server, gruu: undefined, tempGruu: undefined, flowTimer: undefined, recoveries: 0 });
    try {
      await ua.start();
    } catch (err) {
      this.#recover(`could not connect to ${this.#transport.server}: ${(err as Error).message}`);
      return;
    }
    await this.#registerOnFlow(generation);
  }

  async unregister(): Promise<void> {
    this.#generation++;
    if (this.#recoveryTimer) clearTimeout(this.#recoveryTimer);
    this.#recoveryTimer = undefined;
    this.#recovering = false;
    const ua = this.#ua;
    this.#ua = undefined;
    if (!ua) return;
    try {
      if (this.#session) await this.hangup();
      if (this.#registerer?.state === RegistererState.Registered && ua.isConnected()) await this.#registerer.unregister().catch(() => {});
      await ua.stop();
    } catch (err) {
      this.#log(`stop: ${(err as Error).message}`);
    }
    this.#registerer = undefined;
    this.#transport = undefined;
    this.#set({ registration: 'unregistered', detail: undefined, edge: undefined, gruu: undefined, tempGruu: undefined, flowTimer: undefined, keepaliveMs: undefined });
  }

  /** REGISTER on the current flow; resolves once it is accepted or has failed. */
  async #registerOnFlow(generation: number): Promise<boolean> {
    const registerer = this.#registerer;
    const transport = this.#transport;
    if (!registerer || !transport) return false;
    const epoch = this.#flowEpoch;
    this.#set({ registration: 'registering', edge: transport.server });
    type Outcome = { ok: true; response: IncomingResponse } | { ok: false; status: number; reason: string; pending?: boolean };
    const attempt = () =>
      new Promise<Outcome>((resolve) => {
        registerer
          .register({
            requestDelegate: {
              onAccept: (response) => resolve({ ok: true, response }),
              onReject: (response) => resolve({ ok: false, status: response.message.statusCode ?? 0, reason: response.message.reasonPhrase ?? '' }),
            },
          })
          // A REGISTER sent on the dead flow may still wait for its Timer F; SIP.js refuses a second one meanwhile.
          .catch((err: Error) => resolve({ ok: false, status: 0, reason: err.message, pending: err.name === 'RequestPendingError' }));
      });
    let outcome = await attempt();
    for (let i = 0; i < 80 && !outcome.ok && outcome.pending && generation === this.#generation; i++) {
      await new Promise((r) => setTimeout(r, 500));
      outcome = await attempt();
    }
    if (generation !== this.#generation || epoch !== this.#flowEpoch) return false;
    if (!outcome.ok) {
      // A 430 to our own REGISTER means the registrar could not use the flow it came in on (the
      // edge lost track of it): register again, through the next edge.
      if (outcome.status === 430) {
        transport.fail('430 Flow Failed to REGISTER');
        return false;
      }
      const detail = `REGISTER failed: ${outcome.status} ${outcome.reason}`.trim();
      if (outcome.status === 401 || outcome.status === 403 || outcome.status === 407 || outcome.status === 404) {
        this.#set({ registration: 'failed', detail });
        return false;
      }
      this.#recover(detail);
      return false;
    }
    const msg = outcome.response.message;
    const flowTimer = Number(msg.getHeader('Flow-Timer'));
    transport.setFlowTimer(Number.isFinite(flowTimer) && flowTimer > 0 ? flowTimer : undefined);
    const contact = this.#ua?.contact;
    this.#backoff.success();
    this.#set({
      registration: 'registered',
      detail: msg.getHeader('Require')?.toLowerCase().includes('outbound') ? 'outbound flow confirmed by the registrar' : 'registered (the registrar did not confirm outbound)',
      edge: transport.server,
      gruu: contact?.pubGruu?.toString(),
      tempGruu: contact?.tempGruu?.toString(),
      flowTimer: Number.isFinite(flowTimer) && flowTimer > 0 ? flowTimer : undefined,
      keepaliveMs: transport.keepaliveMs || undefined,
    });
    this.#log(`registered as ${this.#snap.user} via ${transport.server}${this.#snap.gruu ? ` (GRUU ${this.#snap.gruu})` : ''}`);
    return true;
  }

  /**
   * RFC 5626 §4.5 flow recovery: the flow is gone, so open one to the next edge of the list and
   * register on it again, with the same instance id and reg-id.
   */
  #recover(why: string): void {
    const generation = this.#generation;
    if (!this.#ua || this.#recovering) return;
    this.#recovering = true;
    this.#flowEpoch++;
    const delay = this.#backoff.next();
    const next = this.#transport?.advance();
    this.#set({ registration: 'recovering', detail: `${why}; trying ${next} in ${(delay / 1000).toFixed(1)} s`, recoveries: this.#snap.recoveries + 1 });
    this.#log(`flow recovery: ${why}; next edge ${next} in ${delay} ms`);
    this.#recoveryTimer = setTimeout(() => {
      this.#recoveryTimer = undefined;
      void this.#attemptRecovery(generation);
    }, delay);
  }

  async #attemptRecovery(generation: number): Promise<void> {
    const ua = this.#ua;
    if (!ua || generation !== this.#generation) return;
    this.#set({ registration: 'connecting', edge: this.#transport?.server });
    try {
      await ua.reconnect();
    } catch (err) {
      this.#recovering = false;
      if (generation === this.#generation) this.#recover(`could not connect: ${(err as Error).message}`);
      return;
    }
    this.#recovering = false;
    if (await this.#registerOnFlow(generation)) await this.#resumeCall(generation);
  }

  /**
   * The flow moved to another edge under an established call. The dialog itself needs nothing: the
   * far end's route set still names the old edge, and a core follows our GRUU (our Contact) to the
   * new flow. The media session gets an ICE restart in a re-INVITE, so both agents check paths
   * again instead of trusting the ones chosen before the move (RFC 5245 §9.1.1.1: "An agent MAY
   * restart ICE processing for an existing media stream"). No BYE: the call stays up.
   */
  async #resumeCall(generation: number): Promise<void> {
    const s = this.#session;
    const id = this.#call?.id;
    if (!s || id === undefined || s.state !== SessionState.Established) return;
    const seq = ++this.#resumeSeq;
    const current = () => generation === this.#generation && seq === this.#resumeSeq && this.#session === s && s.state === SessionState.Established;
    const edge = this.#transport?.server ?? '?';
    const edgeName = `edge ${this.#o.edges.indexOf(edge) + 1}`;
    const restart = (): SessionInviteOptions => {
      const sdh: WebSdhOptions = { hold: this.#call?.held ?? false, offerOptions: { iceRestart: true } };
      return { sessionDescriptionHandlerOptions: sdh };
    };
    this.#log(`flow moved under the call: re-INVITE with ICE restart through ${edgeName}`);
    let outcome = await this.#tryReinvite(s, restart());
    // A re-INVITE sent on the dead flow may still wait for its Timer B; SIP.js allows one at a time.
    for (let i = 0; i < 80 && outcome.kind === 'pending'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      if (!current()) return;
      outcome = await this.#tryReinvite(s, restart());
    }
    if (outcome.kind === 'rejected' && outcome.status === 491) {
      // RFC 3261 §14.1: "If the UAC is the owner of the Call-ID of the dialog ID ..., T has a randomly
      // chosen value between 2.1 and 4 seconds ... If the UAC is not the owner ..., T has a randomly
      // chosen value of between 0 and 2 seconds".
      await new Promise((r) => setTimeout(r, this.#call?.direction === 'outgoing' ? 2100 + Math.random() * 1900 : Math.random() * 2000));
      if (!current()) return;
      outcome = await this.#tryReinvite(s, restart());
    }
    // SIP.js keeps the last re-INVITE options for answering the peer's re-INVITEs too; an answer
    // made with iceRestart set would wait out the gathering timeout for a restart that never comes.
    const plain: WebSdhOptions = { hold: this.#call?.held ?? false };
    s.sessionDescriptionHandlerOptionsReInvite = plain;
    if (outcome.kind === 'accepted') {
      this.#setCall({ resumes: (this.#call?.resumes ?? 0) + 1, resumedVia: edge, resumedAt: Date.now() }, id);
      this.#log(`call resumed through ${edgeName} (${edge})`);
    } else {
      const why = outcome.kind === 'rejected' ? `${outcome.status} ${outcome.reason}` : outcome.kind === 'error' ? outcome.reason : 'a re-INVITE stayed pending';
      this.#log(`call not resumed through ${edgeName}: the ICE-restart re-INVITE failed (${why}); the call stays up`);
    }
  }

  // ---- calls ----------------------------------------------------------------------------------

  async call(target: string): Promise<void> {
    const ua = this.#ua;
    if (!ua || this.#snap.registration !== 'registered') throw new Error('register first');
    if (this.#session) throw new Error('already in a call');
    const uri = UserAgent.makeURI(targetUri(target, this.#o.domain));
    if (!uri) throw new TypeError(`not a SIP address: ${target}`);
    this.#meter.prime();
    const inviter = new Inviter(ua, uri, { sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
    const id = this.#adopt(inviter, 'outgoing', uri.toString(), 'calling');
    await inviter.invite({
      requestDelegate: {
        onProgress: (r) => {
          if (this.#session === inviter && (r.message.statusCode ?? 0) >= 180) this.#setCall({ state: 'ringing' }, id);
        },
        onReject: (r) => {
          // RFC 5626 §5.3: an edge answers 430 when "the flow no longer exists" towards the *callee*;
          // it says nothing about our own flow, which just carried the answer back.
          const why = r.message.statusCode === 430 ? ": the callee's connection to its edge is gone" : '';
          this.#setCall({ endReason: `${r.message.statusCode} ${r.message.reasonPhrase}${why}` }, id);
        },
      },
    });
  }

  async answer(): Promise<void> {
    const s = this.#session;
    if (!s || this.#call?.state !== 'incoming') throw new Error('no incoming call');
    this.#meter.prime();
    this.#setCall({ state: 'connecting' });
    await (s as Invitation).accept({ sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
  }

  async reject(): Promise<void> {
    const s = this.#session;
    if (!s || this.#call?.state !== 'incoming') throw new Error('no incoming call');
    this.#setCall({ endReason: 'declined (603)' });
    await (s as Invitation).reject({ statusCode: 603, reasonPhrase: 'Decline' });
  }

  async hangup(): Promise<void> {
    const s = this.#session;
    if (!s) return;
    this.#setCall({ endReason: 'hung up here' });
    switch (s.state) {
      case SessionState.Initial:
      case SessionState.Establishing:
        if (s instanceof Inviter) await s.cancel();
        else if (this.#call?.state === 'incoming') await (s as Invitation).reject({ statusCode: 603 });
        // Answered but not yet confirmed by the ACK: SIP.js sends the BYE once it can.
        else await s.dispose();
        break;
      case SessionState.Established:
        await s.bye();
        break;
      default:
        break;
    }
  }

  /** RFC 3264 §8.4 hold: a re-INVITE offering sendonly (SIP.js `hold` option), tracks disabled. */
  async hold(on: boolean): Promise<void> {
    const s = this.#session;
    if (!s || s.state !== SessionState.Established) throw new Error('no established call');
    const sdhOptions: WebSdhOptions = { hold: on };
    const ok = await this.#reinvite(s, { sessionDescriptionHandlerOptions: sdhOptions });
    if (!ok) throw new Error(`${on ? 'hold' : 'resume'} re-INVITE was refused`);
    this.#setCall({ held: on });
    this.#applyTrackState();
    this.#log(on ? 'call on hold' : 'call resumed');
  }

  mute(on: boolean): void {
    if (!this.#session) return;
    this.#setCall({ muted: on });
    this.#applyTrackState();
  }

  /** RFC 4733 telephone-event when negotiated; SIP INFO (application/dtmf-relay) otherwise. */
  async dtmf(digit: string): Promise<'rtp' | 'info'> {
    const s = this.#session;
    if (!s || s.state !== SessionState.Established) throw new Error('no established call');
    if (!/^[0-9A-D*#]$/i.test(digit)) throw new TypeError(`not a DTMF digit: ${digit}`);
    const sdh = s.sessionDescriptionHandler as SessionDescriptionHandler | undefined;
    let via: 'rtp' | 'info' = 'info';
    const sdp = sdh?.peerConnection?.remoteDescription?.sdp ?? '';
    if (sdh && /telephone-event/i.test(sdp) && sdh.sendDtmf(digit, { duration: 120, interToneGap: 70 })) {
      via = 'rtp';
    } else {
      await s.info({ requestOptions: { body: { contentDisposition: 'render', contentType: 'application/dtmf-relay', content: `Signal=${digit}\r\nDuration=120` } } });
    }
    this.#setCall({ dtmfSent: (this.#call?.dtmfSent ?? '') + digit });
    return via;
  }

  /** Blind transfer (RFC 3515 REFER): the peer calls `target`; we leave once it accepted. */
  async transfer(target: string): Promise<void> {
    const s = this.#session;
    if (!s || s.state !== SessionState.Established) throw new Error('no established call');
    const uri = UserAgent.makeURI(targetUri(target, this.#o.domain));
    if (!uri) throw new TypeError(`not a SIP address: ${target}`);
    await new Promise<void>((resolve, reject) => {
      void s
        .refer(uri, {
          requestDelegate: {
            onAccept: () => resolve(),
            onReject: (r) => reject(new Error(`REFER refused: ${r.message.statusCode} ${r.message.reasonPhrase}`)),
          },
        })
        .catch(reject);
    });
    this.#setCall({ transferredTo: uri.toString(), endReason: `transferred to ${uri.toString()}` });
    if (s.state === SessionState.Established) await s.bye();
  }

  async stats(): Promise<MediaStats | undefined> {
    const sdh = this.#session?.sessionDescriptionHandler as SessionDescriptionHandler | undefined;
    const pc = sdh?.peerConnection;
    if (!pc) return undefined;
    const out: MediaStats = { bytesReceived: 0, packetsReceived: 0, audioLevel: 0, totalAudioEnergy: 0, bytesSent: 0, direction: null, currentDirection: null, iceState: pc.iceConnectionState, meterLevel: this.#meter.level() };
    const tr = pc.getTransceivers()[0];
    if (tr) {
      out.direction = tr.direction;
      out.currentDirection = tr.currentDirection;
    }
    const ufrag = (sdp: string | undefined) => (sdp ? /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] : undefined);
    const localUfrag = ufrag(pc.localDescription?.sdp);
    const remoteUfrag = ufrag(pc.remoteDescription?.sdp);
    if (localUfrag) out.localIceUfrag = localUfrag;
    if (remoteUfrag) out.remoteIceUfrag = remoteUfrag;
    const report = await pc.getStats();
    const codecs = new Map<string, string>();
    report.forEach((r: Record<string, unknown>) => {
      if (r.type === 'codec') codecs.set(r.id as string, String(r.mimeType));
    });
    report.forEach((r: Record<string, unknown>) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out.bytesReceived += Number(r.bytesReceived ?? 0);
        out.packetsReceived += Number(r.packetsReceived ?? 0);
        out.audioLevel = Math.max(out.audioLevel, Number(r.audioLevel ?? 0));
        out.totalAudioEnergy += Number(r.totalAudioEnergy ?? 0);
        const codec = codecs.get(r.codecId as string);
        if (codec) out.codec = codec;
      } else if (r.type === 'outbound-rtp' && r.kind === 'audio') {
        out.bytesSent += Number(r.bytesSent ?? 0);
      }
    });
    return out;
  }

  /** One CRLF keepalive now (RFC 5626 §4.4.1); resolves with the round trip in ms. No pong in 10 s fails the flow. */
  pingFlow(): Promise<number> {
    const t = this.#transport;
    if (!t) return Promise.reject(new Error('not registered'));
    return t.ping();
  }

  meterLevel(): number {
    return this.#meter.level();
  }

  // ---- session plumbing -----------------------------------------------------------------------

  #onInvite(invitation: Invitation): void {
    if (this.#session) {
      // One call at a time in this demo.
      void invitation.reject({ statusCode: 486, reasonPhrase: 'Busy Here' });
      return;
    }
    const from = invitation.remoteIdentity;
    this.#adopt(invitation, 'incoming', from.uri.toString(), 'incoming');
    this.#log(`incoming call from ${from.uri.toString()}`);
  }

  #adopt(session: Session, direction: CallSnapshot['direction'], peer: string, state: CallState): number {
    const id = ++this.#callSeq;
    this.#session = session;
    this.#call = { id, direction, peer, state, held: false, remoteHeld: false, muted: false, dtmfSent: '', dtmfReceived: '', resumes: 0 };
    session.delegate = {
      onBye: (bye) => {
        this.#setCall({ endReason: 'the other side hung up' }, id);
        // With a delegate, answering the BYE is ours to do.
        void bye.accept();
      },
      onCancel: () => this.#setCall({ endReason: 'the caller cancelled' }, id),
      onInfo: (info) => this.#onInfo(session, info),
      onInvite: () => this.#onReinvite(session),
      onRefer: (referral) => this.#onRefer(session, referral),
    };
    session.stateChange.addListener((state) => {
      if (this.#session !== session) return;
      switch (state) {
        case SessionState.Established:
          this.#setCall({ state: 'established', startedAt: Date.now() });
          this.#attachMedia(session);
          break;
        case SessionState.Terminated:
          this.#setCall({ state: 'ended', endedAt: Date.now(), endReason: this.#call?.endReason ?? 'ended' });
          this.#session = undefined;
          this.#meter.detach();
          this.#o.audioElement.srcObject = null;
          this.#log(`call ended: ${this.#call?.endReason}`);
          break;
        default:
          break;
      }
    });
    this.#emit();
    return id;
  }

  #attachMedia(session: Session): void {
    const sdh = session.sessionDescriptionHandler as SessionDescriptionHandler | undefined;
    if (!sdh) return;
    const stream = sdh.remoteMediaStream;
    const play = () => {
      const el = this.#o.audioElement;
      el.srcObject = stream;
      void el.play().catch((err: Error) => this.#log(`remote audio play(): ${err.message}`));
      this.#meter.attach(stream);
    };
    play();
    // Tracks may arrive after the 200 OK / ACK; re-attach so the analyser sees them.
    stream.onaddtrack = () => play();
  }

  #applyTrackState(): void {
    const sdh = this.#session?.sessionDescriptionHandler as SessionDescriptionHandler | undefined;
    if (!sdh?.peerConnection || !this.#call) return;
    sdh.enableReceiverTracks(!this.#call.held);
    sdh.enableSenderTracks(!this.#call.held && !this.#call.muted);
  }

  /** After a re-INVITE from the peer: did it put us on hold (sendonly/inactive offered)? */
  #onReinvite(session: Session): void {
    const sdh = session.sessionDescriptionHandler as SessionDescriptionHandler | undefined;
    const dir = sdh?.peerConnection?.getTransceivers()[0]?.currentDirection;
    const remoteHeld = !this.#call?.held && (dir === 'recvonly' || dir === 'inactive');
    if (remoteHeld !== this.#call?.remoteHeld) this.#log(remoteHeld ? 'the other side put the call on hold' : 'the other side resumed the call');
    this.#setCall({ remoteHeld });
  }

  #onInfo(session: Session, info: Info): void {
    const body = info.request.body ?? '';
    const m = /Signal\s*=\s*([0-9A-D*#])/i.exec(body);
    void info.accept();
    if (m && this.#session === session) this.#setCall({ dtmfReceived: (this.#call?.dtmfReceived ?? '') + m[1]!.toUpperCase() });
  }

  /** We are the transferee: accept the REFER, call the target, and make that the current call. */
  #onRefer(old: Session, referral: Referral): void {
    const target = referral.referTo.uri.toString();
    this.#log(`transferred by ${this.#call?.peer} to ${target}`);
    void referral.accept().then(() => {
      const inviter = referral.makeInviter({ sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } });
      if (this.#session === old) {
        this.#setCall({ endReason: `transferred to ${target}` });
        this.#session = undefined;
        this.#meter.detach();
      }
      this.#adopt(inviter, 'outgoing', target, 'calling');
      return inviter.invite();
    }).catch((err: Error) => this.#log(`transfer failed: ${err.message}`));
  }

  /** A re-INVITE and how it ended: 'pending' when SIP.js still has one in progress. */
  async #tryReinvite(s: Session, options: SessionInviteOptions): Promise<ReinviteOutcome> {
    return new Promise<ReinviteOutcome>((resolve) => {
      void s
        .invite({
          ...options,
          requestDelegate: {
            onAccept: () => resolve({ kind: 'accepted' }),
            onReject: (r) => resolve({ kind: 'rejected', status: r.message.statusCode ?? 0, reason: r.message.reasonPhrase ?? '' }),
          },
        })
        .catch((err: Error) => resolve(err.name === 'RequestPendingError' ? { kind: 'pending' } : { kind: 'error', reason: err.message }));
    });
  }

  async #reinvite(s: Session, options: SessionInviteOptions): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      void s
        .invite({
          ...options,
          requestDelegate: {
            onAccept: () => resolve(true),
            onReject: () => resolve(false),
          },
        })
        .catch(() => resolve(false));
    });
  }

  // ---- state ----------------------------------------------------------------------------------

  /** Patches the current call; with `id`, only if that call is still the current one. */
  #setCall(patch: Partial<CallSnapshot>, id?: number): void {
    if (!this.#call || (id !== undefined && this.#call.id !== id)) return;
    this.#call = { ...this.#call, ...patch };
    this.#emit();
  }

  #set(patch: Partial<PhoneSnapshot>): void {
    this.#snap = { ...this.#snap, ...patch };
    this.#emit();
  }

  #emit(): void {
    this.dispatchEvent(new Event('change'));
  }

  #log(line: string): void {
    this.#o.log?.(line);
  }
}

/** `bob` → sip:bob@domain; a full SIP URI or user@host is used as given. */
export function targetUri(target: string, domain: string): string {
  const t = target.trim();
  if (/^sips?:/i.test(t)) return t;
  if (t.includes('@')) return `sip:${t}`;
  return `sip:${t}@${domain}`;
}

function instanceIdFor(user: string): string {
  const key = `sipflow.instance.${user}`;
  try {
    const saved = localStorage.getItem(key);
    if (saved && /^[0-9a-f-]{36}$/i.test(saved)) return saved;
    const id = crypto.randomUUID();
    localStorage.setItem(key, id);
    return id;
  } catch {
    return crypto.randomUUID();
  }
}

