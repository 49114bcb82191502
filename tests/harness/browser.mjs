// Headless Chromium for tests that look at a page as a person would. The browser is the
// distribution's package (scripts/setup installs it); CHROMIUM_PATH overrides where it is.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";
import { ROOT } from "./config.mjs";

export const ARTIFACTS = path.join(ROOT, "tests", "artifacts");

/** Path of the Chromium binary; throws with the fix when there is none. */
export function chromiumPath() {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean);
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`no Chromium at ${candidates.join(", ")}: run scripts/setup (or set CHROMIUM_PATH)`);
  return found;
}

/** Launches headless Chromium (no sandbox: tests run as root in CI containers). */
export function launchBrowser() {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
}

/** Where a test's screenshot `name` goes (tests/artifacts/, kept out of git). */
export function artifact(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
