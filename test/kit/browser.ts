/**
 * Opens pages in a real browser for end-to-end tests: Debian's Chromium driven by playwright-core (which
 * downloads nothing). Each browser gets a fresh profile directory; each page records its console errors,
 * uncaught page errors, every request it made and every request that failed, and can save screenshots
 * into test-output/ at the repository root (CI keeps that folder as artifacts).
 *
 * Chromium missing: under CI (CI=true, set by .ci/run, which installs it) a failure with a clear message; elsewhere
 * the browser tests skip with {@link BROWSER_SKIP}, one line saying how to enable them.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { repoRoot } from "./cli.js";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const TEST_OUTPUT_DIR = join(repoRoot, "test-output");

const INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core";

/**
 * The `skip` option for a browser test's describe(): false when Chromium is there or under CI (where launching
 * then fails loudly), else the reason, which node:test prints as the one line a reader needs.
 */
export const BROWSER_SKIP: string | false =
  existsSync(CHROMIUM_PATH) || process.env["CI"] === "true"
    ? false
    : `${CHROMIUM_PATH} is missing: browser tests skipped; to run them, \`${INSTALL}\` (under CI=true this fails)`;

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface PageRecord {
  page: Page;
  consoleErrors: string[];
  pageErrors: string[];
  /** Every URL the page requested, the page itself included. */
  requests: string[];
  failedRequests: string[];
  /** Saves a full-page screenshot as test-output/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
}

export interface Browser {
  open(url: string): Promise<PageRecord>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing: the browser tests need Debian's Chromium. Install it with \`${INSTALL}\` (.ci/run does).`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), "fable-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      viewport: { width: 1360, height: 900 },
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    async open(url) {
      const page = await context.newPage();
      const record: PageRecord = {
        page,
        consoleErrors: [],
        pageErrors: [],
        requests: [],
        failedRequests: [],
        async screenshot(name) {
          mkdirSync(TEST_OUTPUT_DIR, { recursive: true });
          const path = join(TEST_OUTPUT_DIR, `${name}.png`);
          await page.screenshot({ path, fullPage: true });
          return path;
        },
      };
      page.on("console", (m) => {
        if (m.type() === "error") record.consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => record.pageErrors.push(e.message));
      page.on("request", (r) => record.requests.push(r.url()));
      page.on("requestfailed", (r) => record.failedRequests.push(`${r.url()}: ${r.failure()?.errorText ?? "failed"}`));
      await page.goto(url, { waitUntil: "load" });
      return record;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
