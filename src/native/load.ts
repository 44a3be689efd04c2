/**
 * Loads the native addon once (build/Release/fable_native.node, built by `npm install`) and
 * reports what it can do. The only module that touches the .node file.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NativeUnavailableError } from "../errors.js";
import type { NativeAddon } from "./native.js";

/** Repository (or installed package) root: this file is src/native/ or dist/src/native/ below it. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "binding.gyp"))) return dir;
    dir = dirname(dir);
  }
  throw new NativeUnavailableError(`cannot find the fable-io package root above ${fileURLToPath(import.meta.url)}`);
}

/** Path of a product of the node-gyp build (the addon or the bench engine). */
export function buildProduct(name: string): string {
  return join(packageRoot(), "build", "Release", name);
}

let cached: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (cached !== undefined) return cached;
  const path = buildProduct("fable_native.node");
  if (!existsSync(path)) {
    throw new NativeUnavailableError(`the native addon is not built (${path} is missing): run \`npm install\``);
  }
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (cause) {
    throw new NativeUnavailableError(`the native addon at ${path} failed to load: ${String(cause)}`, { cause });
  }
  return cached;
}
