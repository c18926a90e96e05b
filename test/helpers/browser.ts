/**
 * Headless Chromium for end-to-end tests, with the settings RECIPES.md §2 found to work here:
 * the system /usr/bin/chromium through playwright-core (never a downloaded browser), fake audio
 * devices, and loopback ICE candidates allowed. With `netns`, Chromium runs inside that network
 * namespace through a two-line wrapper script, so it only ever sees 127.0.0.1 there.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Without it a loopback-only host offers zero ICE candidates (RECIPES §2).
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

export interface LaunchedBrowser {
  browser: Browser;
  /** A fresh context (own localStorage, own instance id) with one page at `url`. */
  openPage(url: string, name: string): Promise<Page>;
  /** Console lines and page errors of every page, prefixed with its name; the last 400. */
  readonly console: string[];
  close(): Promise<void>;
}

export async function launchBrowser(o: { netns?: string } = {}): Promise<LaunchedBrowser> {
  let executablePath = CHROMIUM;
  let wrapperDir: string | undefined;
  if (o.netns) {
    if (!/^[A-Za-z0-9_-]+$/.test(o.netns)) throw new TypeError(`bad namespace name ${o.netns}`);
    wrapperDir = mkdtempSync(join(tmpdir(), 'sfweb-chromium-'));
    executablePath = join(wrapperDir, 'chromium-in-netns');
    // playwright talks to Chromium over inherited pipes (fds 3 and 4); `ip netns exec` keeps them.
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${o.netns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  }
  const lines: string[] = [];
  const note = (line: string) => {
    lines.push(line);
    if (lines.length > 400) lines.splice(0, lines.length - 400);
  };
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
  } catch (err) {
    if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
    throw err;
  }
  return {
    browser,
    console: lines,
    async openPage(url, name) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, permissions: ['microphone'] });
      const page = await context.newPage();
      page.on('console', (m) => note(`[${name}] ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => note(`[${name}] pageerror: ${e.message}`));
      await page.goto(url, { waitUntil: 'load', timeout: 15_000 });
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` inside the test process until it returns a truthy value (bounded); returns it. */
export async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 10_000, stepMs = 200): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
