/**
 * Who ran a result, without saying who: a random machine id kept in the user's config dir (never
 * derived from hostname, MAC, machine-id or any serial), a hardware key hashed from hardware
 * facts without clock speeds, and the suite's own version and git commit.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { FableError } from "../errors.js";
import { packageRoot } from "../native/load.js";
import type { Environment } from "./environment.js";
import type { Topology } from "./topology.js";

/** fable's config dir: $FABLE_CONFIG_DIR, else $XDG_CONFIG_HOME/fable, else ~/.config/fable. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env["FABLE_CONFIG_DIR"]) return env["FABLE_CONFIG_DIR"];
  const base = env["XDG_CONFIG_HOME"] || join(homedir(), ".config");
  return join(base, "fable");
}

const ID_PATTERN = /^[0-9a-f]{32}$/;

/** The random id of this machine's results, created on first use. */
export function machineId(dir: string = configDir()): string {
  const path = join(dir, "bench-id");
  if (existsSync(path)) {
    const id = readFileSync(path, "utf8").trim();
    if (ID_PATTERN.test(id)) return id;
    throw new FableError(
      "ECONFIG",
      `${path} does not hold a fable machine id (32 hex digits); delete it to get a new one`,
    );
  }
  const id = randomBytes(16).toString("hex");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path, id + "\n", { mode: 0o600, flag: "wx" });
  return id;
}

/** Removes clock speeds from a CPU model name ("... CPU E5-2670 0 @ 2.60GHz" -> "... CPU E5-2670 0"). */
export function modelWithoutClock(model: string): string {
  return model
    .replace(/@\s*[\d.]+\s*[GM]Hz/gi, "")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Same hardware, same key: CPU identity and layout, caches, NUMA and memory size. Clock speeds,
 * software and the random id are left out so a key groups results across kernels and years.
 */
export function hardwareKey(arch: string, topology: Topology, environment: Environment): string {
  const cpu = environment.cpu;
  const facts = {
    arch,
    cpu: {
      vendor: cpu.vendor,
      model: cpu.model === null ? null : modelWithoutClock(cpu.model),
      family: cpu.family,
      modelNumber: cpu.modelNumber,
      stepping: cpu.stepping,
    },
    cpus: topology.cpus.length,
    packages: topology.packages,
    dies: topology.dies,
    cores: topology.cores,
    threadsPerCore: topology.threadsPerCore,
    caches: topology.caches
      .map((c) => `${c.level}${c.type[0] ?? "?"}:${c.sizeBytes}x${c.cpus.length}`)
      .sort()
      .join(","),
    numaNodes: topology.numa.length,
    memoryGiB: environment.memoryGiB,
  };
  return createHash("sha256").update(JSON.stringify(facts)).digest("hex").slice(0, 16);
}

export interface SuiteInfo {
  name: "fable-io";
  version: string;
  commit: string | null;
  dirty: boolean | null;
}

/** The package version, and the git commit and dirty flag when running from a checkout. */
export function suiteInfo(root: string = packageRoot()): SuiteInfo {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  let commit: string | null = null;
  let dirty: boolean | null = null;
  if (existsSync(join(root, ".git"))) {
    try {
      const git = (args: string[]) =>
        execFileSync("git", ["-C", root, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      const head = git(["rev-parse", "HEAD"]).trim();
      if (/^[0-9a-f]{40}$/.test(head)) {
        commit = head;
        dirty = git(["status", "--porcelain", "--untracked-files=no"]).trim() !== "";
      }
    } catch {
      // Not a usable checkout (no git, or no commit yet): the version alone identifies the suite.
    }
  }
  return { name: "fable-io", version: pkg.version, commit, dirty };
}
