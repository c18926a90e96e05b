/**
 * The softphone page: reads /config.json, builds a Softphone and renders its snapshot. All SIP and
 * media logic lives in phone.ts; this file only moves values between the DOM and the phone.
 *
 * URL parameters: `user` prefills the user name, `edge` (an index into the edge list) picks the
 * first edge instead of a random one.
 */
import { loadConfig } from './config.js';
import { Softphone, type PhoneSnapshot } from './phone.js';

declare global {
  interface Window {
    /** For people poking around in devtools and for the end-to-end tests. */
    sipflow?: { phone: Softphone; snapshot(): PhoneSnapshot; stats: Softphone['stats'] };
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
};

const logEl = $('log');
const logLines: string[] = [];
function log(line: string): void {
  const t = new Date().toISOString().slice(11, 23);
  logLines.push(`${t}  ${line}`);
  if (logLines.length > 300) logLines.splice(0, logLines.length - 300);
  logEl.textContent = logLines.join('\n');
  logEl.scrollTop = logEl.scrollHeight;
}

async function main(): Promise<void> {
  const config = await loadConfig();
  const params = new URLSearchParams(location.search);
  const edgeSelect = $<HTMLSelectElement>('edge-choice');
  config.edges.forEach((url, i) => edgeSelect.add(new Option(`edge ${i + 1}: ${url}`, String(i))));
  const wanted = params.get('edge');
  if (wanted !== null && Number(wanted) >= 0 && Number(wanted) < config.edges.length) edgeSelect.value = String(Number(wanted));
  if (params.get('user')) $<HTMLInputElement>('user').value = params.get('user')!;
  if (config.edges.length === 0) log('no edges in /config.json: nothing to connect to');

  const traceBox = $<HTMLInputElement>('trace-sip');
  let phone = makePhone(0);

  function makePhone(start: number): Softphone {
    const p = new Softphone({
      domain: config.domain,
      edges: config.edges,
      startEdge: start,
      audioElement: $<HTMLAudioElement>('remote-audio'),
      log,
      trace: (dir, msg) => {
        if (traceBox.checked) log(`${dir === 'in' ? '<<<' : '>>>'} ${msg.trimEnd()}\n`);
      },
    });
    p.addEventListener('change', () => render(p.snapshot));
    window.sipflow = { phone: p, snapshot: () => p.snapshot, stats: () => p.stats() };
    return p;
  }

  const act = (what: string, f: () => Promise<unknown> | unknown) => async () => {
    try {
      await f();
    } catch (err) {
      log(`${what}: ${(err as Error).message}`);
    }
  };

  $('register-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = $<HTMLInputElement>('user').value.trim();
    const password = $<HTMLInputElement>('password').value;
    const choice = edgeSelect.value === 'auto' ? Math.floor(Math.random() * Math.max(1, config.edges.length)) : Number(edgeSelect.value);
    void act('register', async () => {
      await phone.unregister();
      phone = makePhone(choice);
      phone.primeAudio();
      log(`registering ${user}@${config.domain} via ${config.edges[choice]}`);
      await phone.register(user, password);
    })();
  });
  $('ping').addEventListener('click', act('ping', async () => {
    $('ping-rtt').textContent = '…';
    try {
      $('ping-rtt').textContent = `pong in ${await phone.pingFlow()} ms`;
    } catch (err) {
      $('ping-rtt').textContent = `no pong: ${(err as Error).message}`;
      throw err;
    }
  }));
  $('unregister').addEventListener('click', act('unregister', () => phone.unregister()));
  $('call-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act('call', () => phone.call($<HTMLInputElement>('target').value))();
  });
  $('answer').addEventListener('click', act('answer', () => phone.answer()));
  $('reject').addEventListener('click', act('reject', () => phone.reject()));
  $('hangup').addEventListener('click', act('hang up', () => phone.hangup()));
  $('hold').addEventListener('click', act('hold', () => phone.hold(!phone.snapshot.call?.held)));
  $('mute').addEventListener('click', act('mute', () => phone.mute(!phone.snapshot.call?.muted)));
  $('keypad').addEventListener('click', (ev) => {
    const b = ev.target as HTMLElement;
    if (b.tagName === 'BUTTON') void act('DTMF', async () => log(`DTMF ${b.textContent} sent via ${await phone.dtmf(b.textContent ?? '')}`))();
  });
  $('transfer-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act('transfer', () => phone.transfer($<HTMLInputElement>('transfer-target').value))();
  });

  // Best effort: a REGISTER with expires=0 goes out synchronously before the page is gone, so the
  // registrar does not keep forking calls to a flow nobody holds.
  addEventListener('pagehide', () => void phone.unregister());

  // The duration and the level meter move on their own; the rest re-renders on 'change'.
  setInterval(() => {
    const s = phone.snapshot;
    renderDuration(s);
    const level = s.call?.state === 'established' ? phone.meterLevel() : 0;
    $<HTMLMeterElement>('level').value = level;
    $('level-text').textContent = level.toFixed(2);
  }, 200);
  setInterval(() => {
    if (phone.snapshot.call?.state !== 'established') return;
    void phone.stats().then((m) => {
      if (!m) return;
      $('media').textContent = `${m.codec ?? '?'} · ${kb(m.bytesReceived)} in / ${kb(m.bytesSent)} out · ${m.currentDirection ?? m.direction} · ICE ${m.iceState}`;
    });
  }, 1000);
  render(phone.snapshot);
  log(`${config.edges.length} edge(s) for ${config.domain}: ${config.edges.join(', ')}`);
}

function render(s: PhoneSnapshot): void {
  const reg = $('reg-state');
  reg.textContent = s.registration;
  reg.dataset.state = s.registration;
  $('reg-detail').textContent = s.detail ?? '';
  $('aor').textContent = s.user ? `sip:${s.user}@${s.domain}` : '–';
  $('edge').textContent = s.edge ? `${s.edge} (edge ${s.edges.indexOf(s.edge) + 1} of ${s.edges.length})` : '–';
  $('gruu').textContent = s.gruu ?? '–';
  $('flow-timer').textContent = s.flowTimer ? `${s.flowTimer} s (CRLF keepalive every ${((s.keepaliveMs ?? 0) / 1000).toFixed(0)} s)` : '–';
  $('recoveries').textContent = String(s.recoveries);
  const registered = s.registration === 'registered';
  $<HTMLButtonElement>('unregister').disabled = s.registration === 'unregistered';
  $<HTMLButtonElement>('ping').disabled = !registered;

  const c = s.call;
  const live = !!c && c.state !== 'ended';
  const est = c?.state === 'established';
  const cs = $('call-state');
  cs.textContent = c?.state ?? 'idle';
  cs.dataset.state = c?.state ?? 'idle';
  const flags = [c?.held && live ? 'on hold' : '', c?.remoteHeld && live ? 'held by peer' : '', c?.muted && live ? 'muted' : ''].filter(Boolean);
  $('call-flags').textContent = flags.join(' · ');
  $('peer').textContent = c ? `${c.direction === 'incoming' ? '← ' : '→ '}${c.peer}` : '–';
  $('dtmf').textContent = c && (c.dtmfSent || c.dtmfReceived) ? `sent ${c.dtmfSent || '–'} · received ${c.dtmfReceived || '–'}` : '–';
  $('end-reason').textContent = c?.state === 'ended' ? (c.endReason ?? 'ended') : '–';
  $<HTMLElement>('incoming').hidden = c?.state !== 'incoming';
  $('incoming-from').textContent = c?.state === 'incoming' ? c.peer : '';
  $<HTMLButtonElement>('call').disabled = !registered || live;
  $<HTMLButtonElement>('hangup').disabled = !live;
  $<HTMLButtonElement>('hold').disabled = !est;
  $('hold').textContent = c?.held && live ? 'Resume' : 'Hold';
  $<HTMLButtonElement>('mute').disabled = !est;
  $('mute').textContent = c?.muted && live ? 'Unmute' : 'Mute';
  $<HTMLButtonElement>('transfer').disabled = !est;
  if (!live) $('media').textContent = '–';
  renderDuration(s);
}

function renderDuration(s: PhoneSnapshot): void {
  const c = s.call;
  if (!c?.startedAt) {
    $('duration').textContent = '–';
    return;
  }
  const secs = Math.floor(((c.endedAt ?? Date.now()) - c.startedAt) / 1000);
  $('duration').textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;
}

function kb(bytes: number): string {
  return bytes < 10_000 ? `${bytes} B` : `${(bytes / 1024).toFixed(0)} kB`;
}

main().catch((err: Error) => log(`startup failed: ${err.message}`));
