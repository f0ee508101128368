// Shared by the browser tests: whether they can run here, and the demo built with Vite, served, and
// opened in headless Chromium with WebGPU on SwiftShader (the network closed, so nothing phones home).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const configFile = join(root, 'web/vite.config.ts');
export const chromiumPath = process.env.TOMA_CHROMIUM ?? '/usr/bin/chromium';
const required = process.env.TOMA_REQUIRE_GPU === '1';

/** Why a browser test cannot run here (logged once as "<what> skipped: ..."), or false. */
export function browserSkip(what: string): false | string {
  // vite and playwright-core are dev dependencies: a production install (the GPU machine's pack) has neither.
  const devDeps = ['vite', 'playwright-core'].every((m) => {
    try {
      createRequire(import.meta.url).resolve(m);
      return true;
    } catch {
      return false;
    }
  });
  const skip = !devDeps
    ? 'the dev dependencies vite and playwright-core are not installed (npm install without --omit=dev)'
    : existsSync(chromiumPath) || required
      ? false
      : `no Chromium at ${chromiumPath}: install Debian's chromium package (TOMA_REQUIRE_GPU=1 makes this a failure)`;
  if (skip) console.warn(`${what} skipped: ${skip}`);
  return skip;
}

const FLAGS = [
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface DemoBrowser {
  url: string;
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Builds the demo (into `outDir`, else Vite's configured folder), serves the build on a free port and
 * opens a fresh Chromium profile at `viewport`.
 */
export async function openDemo(o: {
  outDir?: string;
  viewport: { width: number; height: number };
}): Promise<DemoBrowser> {
  const { build, preview } = await import('vite');
  const { chromium } = await import('playwright-core');
  const inline = {
    configFile,
    logLevel: 'warn' as const,
    ...(o.outDir ? { build: { outDir: o.outDir, emptyOutDir: true } } : {}),
  };
  await build(inline);
  const server = await preview({ ...inline, preview: { port: 0, open: false } });
  const profile = mkdtempSync(join(tmpdir(), 'toma-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: FLAGS,
      viewport: o.viewport,
    });
  } catch (e) {
    await server.close();
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  return {
    url: server.resolvedUrls?.local[0] ?? '',
    context,
    async close() {
      await context.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A new page that collects page errors and console errors. */
export async function pageWithErrors(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  return { page, errors };
}
