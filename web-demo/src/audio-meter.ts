/**
 * The remote audio level, measured with a WebAudio AnalyserNode on the remote stream. The stream
 * must also be played by an <audio> element: Chrome only pulls decoded WebRTC audio (and only then
 * reports inbound-rtp audioLevel) for a stream something consumes.
 */
export class AudioMeter {
  #ctx: AudioContext | undefined;
  #source: MediaStreamAudioSourceNode | undefined;
  #analyser: AnalyserNode | undefined;
  #buffer: Float32Array<ArrayBuffer> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #held = 0;

  /** Creates the AudioContext; call it from a click handler so autoplay rules allow it. */
  prime(): void {
    this.#ctx ??= new AudioContext();
    void this.#ctx.resume().catch(() => {});
  }

  attach(stream: MediaStream): void {
    this.detach();
    if (stream.getAudioTracks().length === 0) return;
    this.prime();
    const ctx = this.#ctx!;
    this.#source = ctx.createMediaStreamSource(stream);
    this.#analyser = ctx.createAnalyser();
    this.#analyser.fftSize = 1024;
    this.#buffer = new Float32Array(this.#analyser.fftSize);
    // Analysed only, not connected to the destination: the <audio> element does the playing.
    this.#source.connect(this.#analyser);
    // Sampled on a timer with a decaying peak hold: Chrome's fake microphone beeps, and a meter
    // read only when the page repaints would mostly land between beeps.
    this.#timer = setInterval(() => {
      this.#held = Math.max(this.#peak(), this.#held * 0.85);
    }, 50);
  }

  detach(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#held = 0;
    this.#source?.disconnect();
    this.#source = undefined;
    this.#analyser = undefined;
    this.#buffer = undefined;
  }

  /** Recent peak level, 0..1 (held, decaying by 15 % every 50 ms). */
  level(): number {
    return this.#held;
  }

  /** Peak absolute sample of the last ~20 ms, 0..1. */
  #peak(): number {
    const a = this.#analyser;
    const buf = this.#buffer;
    if (!a || !buf) return 0;
    a.getFloatTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v));
    return Math.min(1, peak);
  }
}
