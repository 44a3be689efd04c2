/**
 * Transport selection from this machine's own bench results: the Selector that `fable daemon` gives
 * the daemon (src/daemon/selector.ts is the contract).
 *
 * What it works from: the newest result in the user's results directory (stored-results.ts) whose
 * hardware key is this machine's and that measured at least one of fable's transports. With none, it
 * answers with the fixed order (default-order.ts) and, unless it has calibrated already,
 * starts a short calibration in the background (calibration.ts); it uses that result as soon as it is
 * kept. It rescans the directory when it changes (looking at most once a second), so a later
 * `fable bench` is picked up.
 *
 * How it predicts, per candidate (transport x wait) and its bench mechanism (fable-shm-spin,
 * fable-shm-adaptive, fable-shm-block, fable-unix, fable-tcp):
 * - placement: both ends confined to one CPU each -> that pair's placement class; otherwise every
 *   (listener CPU, connector CPU) pair they are allowed on counts once (the scheduler may put them
 *   on any; where they run now changes at the next wake-up) and the figures are combined over that
 *   distribution: round trips as the weighted mean, throughput as the weighted harmonic mean (the
 *   mean time per byte);
 * - a placement class the result did not measure: the nearest class it did (the farther one on a
 *   tie), said in the source;
 * - sizes: round trip at the smallest declared size, throughput at the largest (64 B and the largest
 *   measured size when none is declared); between measured sizes, interpolated linearly in
 *   (log size, log figure); outside them, held at the nearest measured size, except a round trip
 *   beyond the largest, which adds the time to move the extra bytes both ways at the predicted
 *   throughput; both are said as extrapolated;
 * - each figure is the median, over the runs of that mechanism, class and size, of each run's figure:
 *   its median round trip, or its throughput over the whole measured phase.
 * - trust: fable's bench runs trusted ends (shared memory read in place). For "untrusted" shm the
 *   figure is scaled by the engine's measured cost of the reader's copy (mempipe-*-safe over
 *   mempipe-*-unsafe, same result, same class and size; a ratio showing a gain counts as none) when
 *   the result has it, else it is marked as a trusted run's figure.
 * Constraints filter through the shared `exclusion()`; the viable are ranked by predicted round trip
 * ("critical") or throughput ("bulk"); unmeasured candidates come after the measured ones; ties and
 * unmeasured ones follow the fixed order.
 */
import { arch } from "node:os";
import { basename } from "node:path";
import { statSync } from "node:fs";
import { defaultOrderSelection } from "../daemon/default-order.js";
import {
  ALL_CANDIDATES,
  type Candidate,
  candidateName,
  exclusion,
  type EndPlacement,
  type Prediction,
  type Selection,
  type SelectionRequest,
  type Selector,
  type Verdict,
} from "../daemon/selector.js";
import { Calibration, type CalibrationOptions, type CalibrationOutcome } from "./calibration.js";
import { readEnvironment } from "./environment.js";
import { hardwareKey } from "./machine.js";
import type { ResultFile, RunOk } from "./result.js";
import { readStoredResults, resultsDir, type SkippedFile, type StoredResult } from "./stored-results.js";
import { PLACEMENT_CLASSES, type PlacementClass, placementClass, readTopology, type Topology } from "./topology.js";

/** The bench mechanism that measured each candidate. */
export function mechanismOf(c: Candidate): string {
  return c.wait === null ? `fable-${c.transport}` : `fable-${c.transport}-${c.wait}`;
}

/** The engine mechanisms whose ratio is the measured cost of an untrusted shm reader's copy. */
function copyCostPair(c: Candidate): [safe: string, unsafe: string] | null {
  if (c.transport !== "shm") return null;
  const wait = c.wait === "spin" ? "spin" : "futex";
  return [`mempipe-${wait}-safe`, `mempipe-${wait}-unsafe`];
}

/** Where two processes may run: each placement class with its share of the CPU pairs. */
export interface PlacementDistribution {
  readonly weights: ReadonlyMap<PlacementClass, number>;
  /** e.g. "same-package (pinned to CPUs 0 and 1)" or "unpinned: same-cpu 50%, same-package 50% (2x2 pairs)". */
  readonly text: string;
}

function cpusOf(t: Topology, end: EndPlacement): { cpus: number[]; note: string | null } {
  const online = new Set(t.cpus.filter((c) => c.online && c.smtSiblings.length > 0).map((c) => c.cpu));
  const allowed = end.allowedCpus.filter((c) => online.has(c));
  if (allowed.length > 0) return { cpus: allowed, note: null };
  if (end.currentCpu !== null && online.has(end.currentCpu)) {
    return { cpus: [end.currentCpu], note: `pid ${end.pid}: allowed CPUs unknown, used the one it runs on` };
  }
  return { cpus: [...online], note: `pid ${end.pid}: CPUs unknown, assumed any online CPU` };
}

export function placementDistribution(t: Topology, a: EndPlacement, b: EndPlacement): PlacementDistribution {
  const ea = cpusOf(t, a);
  const eb = cpusOf(t, b);
  const notes = [ea.note, eb.note].filter((n): n is string => n !== null);
  const counts = new Map<PlacementClass, number>();
  for (const x of ea.cpus) {
    for (const y of eb.cpus) {
      const cls = placementClass(t, x, y);
      counts.set(cls, (counts.get(cls) ?? 0) + 1);
    }
  }
  const total = ea.cpus.length * eb.cpus.length;
  const weights = new Map(PLACEMENT_CLASSES.flatMap((c) => (counts.has(c) ? [[c, (counts.get(c) ?? 0) / total]] : [])));
  let text: string;
  if (total === 1) {
    text = `${[...weights.keys()].join("")} (pinned to CPUs ${ea.cpus.join("")} and ${eb.cpus.join("")})`;
  } else {
    const shares = [...weights].map(([c, w]) => `${c} ${Math.round(w * 100)}%`).join(", ");
    text = `unpinned: ${shares} of ${ea.cpus.length}x${eb.cpus.length} CPU pairs`;
  }
  return { weights, text: notes.length > 0 ? `${text}; ${notes.join("; ")}` : text };
}

/** A predicted figure and what had to be assumed to get it. */
interface Figure {
  readonly value: number;
  readonly notes: readonly string[];
}

type Mode = "latency" | "throughput";

function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

type Table = ReadonlyMap<PlacementClass, ReadonlyMap<number, number>>;

/** Per result (never rewritten once kept): mechanism and mode -> its table, built in one pass. */
const tables = new WeakMap<ResultFile, Map<string, Table>>();

/** The measured figures of one mechanism and mode: class -> size -> median of the runs' figures. */
function measured(doc: ResultFile, mechanism: string, mode: Mode): Table {
  let all = tables.get(doc);
  if (all === undefined) {
    const values = new Map<string, Map<PlacementClass, Map<number, number[]>>>();
    for (const run of doc.runs) {
      if (run.status !== "ok") continue;
      // Throughput: the whole measured phase's rate (waits included), as `fable bench` reports it;
      // a batch's median rate can miss the waits between batches.
      const ok = run as RunOk;
      const value = run.mode === "latency" ? ok.stats.p50 : (ok.rate?.bytesPerSecond ?? ok.stats.p50);
      if (!(value > 0)) continue;
      const key = `${run.mechanism} ${run.mode}`;
      const byClass = values.get(key) ?? new Map<PlacementClass, Map<number, number[]>>();
      const bySize = byClass.get(run.placement) ?? new Map<number, number[]>();
      bySize.set(run.size, [...(bySize.get(run.size) ?? []), value]);
      byClass.set(run.placement, bySize);
      values.set(key, byClass);
    }
    all = new Map(
      [...values].map(([key, byClass]) => [
        key,
        new Map([...byClass].map(([cls, bySize]) => [cls, new Map([...bySize].map(([size, v]) => [size, median(v)]))])),
      ]),
    );
    tables.set(doc, all);
  }
  return all.get(`${mechanism} ${mode}`) ?? new Map();
}

/** The nearest measured class (by distance in PLACEMENT_CLASSES, the farther on a tie). */
function nearestClass(cls: PlacementClass, have: Iterable<PlacementClass>): PlacementClass | undefined {
  const at = PLACEMENT_CLASSES.indexOf(cls);
  let best: PlacementClass | undefined;
  let bestKey = Infinity;
  for (const c of have) {
    const i = PLACEMENT_CLASSES.indexOf(c);
    const key = Math.abs(i - at) * 2 - (i > at ? 1 : 0);
    if (key < bestKey) [best, bestKey] = [c, key];
  }
  return best;
}

/** The figure at `size` from figures at measured sizes (see the module comment). */
function atSize(sizes: ReadonlyMap<number, number>, size: number, what: Mode): Figure | null {
  const known = [...sizes.keys()].sort((x, y) => x - y);
  const lo = known.filter((s) => s <= size).at(-1);
  const hi = known.find((s) => s >= size);
  if (lo !== undefined && lo === hi) return { value: sizes.get(lo) ?? NaN, notes: [] };
  if (lo !== undefined && hi !== undefined) {
    const t = Math.log(size / lo) / Math.log(hi / lo);
    const [vl, vh] = [sizes.get(lo) ?? NaN, sizes.get(hi) ?? NaN];
    return {
      value: Math.exp(Math.log(vl) + t * (Math.log(vh) - Math.log(vl))),
      notes: [`${what} at ${size} B interpolated between ${lo} B and ${hi} B`],
    };
  }
  const nearest = lo ?? hi;
  if (nearest === undefined) return null;
  const how =
    what === "latency" && lo !== undefined
      ? `the ${lo} B figure plus moving the extra bytes both ways at the predicted throughput`
      : `held at ${nearest} B`;
  return { value: sizes.get(nearest) ?? NaN, notes: [`${what} at ${size} B extrapolated: ${how}`] };
}

/**
 * A mechanism's figure for one mode and size over a placement distribution, or null when the result
 * has no run of it. Notes say what was interpolated, extrapolated or borrowed from another class.
 */
function predictMode(
  doc: ResultFile,
  mechanism: string,
  mode: Mode,
  size: number,
  placement: PlacementDistribution,
): Figure | null {
  const table = measured(doc, mechanism, mode);
  if (table.size === 0) return null;
  const notes: string[] = [];
  let sum = 0;
  for (const [cls, weight] of placement.weights) {
    let use = cls;
    if (!table.has(cls)) {
      use = nearestClass(cls, table.keys()) ?? cls;
      notes.push(`no ${mode} run in ${cls}: used ${use}, the nearest measured class`);
    }
    const figure = atSize(table.get(use) ?? new Map(), size, mode);
    if (figure === null) return null;
    let value = figure.value;
    notes.push(...figure.notes);
    const largest = Math.max(...(table.get(use)?.keys() ?? []));
    if (mode === "latency" && size > largest) {
      // Beyond the largest measured round trip: add the time to move the extra bytes each way.
      const rate = predictMode(doc, mechanism, "throughput", size, { weights: new Map([[use, 1]]), text: "" });
      if (rate !== null) value += (2 * (size - largest) * 1e9) / rate.value;
      else notes.push(`no throughput measured: latency held at ${largest} B`);
    }
    // Round trips average as they are; rates average as time per byte (a harmonic mean).
    sum += mode === "latency" ? weight * value : weight / value;
  }
  return { value: mode === "latency" ? sum : 1 / sum, notes: [...new Set(notes)] };
}

function largestMeasuredSize(doc: ResultFile, mode: Mode): number | null {
  const sizes = doc.runs.filter((r) => r.status === "ok" && r.mode === mode).map((r) => r.size);
  return sizes.length === 0 ? null : Math.max(...sizes);
}

interface Predicted {
  readonly prediction: Prediction | null;
  /** Said in the verdict's reason (e.g. that the figure is a trusted run's). */
  readonly caveat: string | null;
}

function predictCandidate(
  stored: StoredResult,
  c: Candidate,
  request: SelectionRequest,
  placement: PlacementDistribution,
): Predicted {
  const mechanism = mechanismOf(c);
  const sizes = request.requirements.sizes;
  const rtSize = sizes.length > 0 ? Math.min(...sizes) : 64;
  const rateSize = sizes.length > 0 ? Math.max(...sizes) : (largestMeasuredSize(stored.doc, "throughput") ?? 64);
  let rt = predictMode(stored.doc, mechanism, "latency", rtSize, placement);
  let rate = predictMode(stored.doc, mechanism, "throughput", rateSize, placement);
  if (rt === null && rate === null) return { prediction: null, caveat: null };
  const notes = [...(rt?.notes ?? []), ...(rate?.notes ?? [])];
  let caveat: string | null = null;
  const pair = copyCostPair(c);
  if (request.requirements.trust === "untrusted" && pair !== null) {
    const factor = (mode: Mode, size: number): number | null => {
      const safe = predictMode(stored.doc, pair[0], mode, size, placement);
      const unsafe = predictMode(stored.doc, pair[1], mode, size, placement);
      if (safe === null || unsafe === null) return null;
      // A copy never makes a reader faster: a ratio saying so is noise, and costs nothing.
      const f = safe.value / unsafe.value;
      return mode === "latency" ? Math.max(1, f) : Math.min(1, f);
    };
    const fRt = rt === null ? null : factor("latency", rtSize);
    const fRate = rate === null ? null : factor("throughput", rateSize);
    if ((rt === null || fRt !== null) && (rate === null || fRate !== null)) {
      if (rt !== null && fRt !== null) rt = { value: rt.value * fRt, notes: rt.notes };
      if (rate !== null && fRate !== null) rate = { value: rate.value * fRate, notes: rate.notes };
      notes.push(`untrusted: scaled by the reader's measured copy cost (${pair[0]} / ${pair[1]})`);
    } else {
      caveat = "figures are from a trusted run (read in place); an untrusted reader also copies each message";
      notes.push("trusted run's figures");
    }
  }
  const source = [`${basename(stored.path)}: ${mechanism}, ${placement.text}`, ...new Set(notes)].join("; ");
  return {
    prediction: { roundTripNs: rt?.value ?? null, bytesPerSecond: rate?.value ?? null, source },
    caveat,
  };
}

function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}x`;
}

/** Ranks the candidates of one request from one stored result. */
export function measuredSelection(stored: StoredResult, topology: Topology, request: SelectionRequest): Selection {
  const critical = request.requirements.latency === "critical";
  const fixed = defaultOrderSelection(request).verdicts.map((v) => candidateName(v.candidate));
  const placement = placementDistribution(topology, request.listener, request.connector);
  const entries = ALL_CANDIDATES.map((candidate) => ({
    candidate,
    ...predictCandidate(stored, candidate, request, placement),
    excluded: exclusion(candidate, request),
    order: fixed.indexOf(candidateName(candidate)),
  }));
  const key = (p: Prediction | null): number | null =>
    critical ? (p?.roundTripNs ?? null) : p?.bytesPerSecond === null || p === null ? null : -p.bytesPerSecond;
  const viable = entries
    .filter((e) => e.excluded === undefined)
    .sort((x, y) => {
      const kx = key(x.prediction);
      const ky = key(y.prediction);
      if (kx !== null && ky !== null && kx !== ky) return kx - ky;
      if (kx === null && ky !== null) return 1;
      if (ky === null && kx !== null) return -1;
      return x.order - y.order;
    });
  const what = critical ? "round trip" : "throughput";
  const figure = (p: Prediction | null): number | null =>
    critical ? (p?.roundTripNs ?? null) : (p?.bytesPerSecond ?? null);
  const first = viable[0];
  const verdicts = new Map<Candidate, Verdict>();
  viable.forEach((e, i) => {
    const rank = i + 1;
    const mine = figure(e.prediction);
    const best = first === undefined ? null : figure(first.prediction);
    const next = viable[1];
    let reason: string;
    if (mine === null) {
      reason = `no ${what} measured for ${mechanismOf(e.candidate)} in this result: placed after the measured candidates, in the fixed order`;
    } else if (rank === 1) {
      const nextFigure = next === undefined ? null : figure(next.prediction);
      reason =
        nextFigure === null
          ? `best predicted ${what}; no other viable candidate has a measured ${what}`
          : nextFigure === mine
            ? `ties on predicted ${what} with ${candidateName(next?.candidate ?? e.candidate)}; first in the fixed order`
            : `best predicted ${what}; next, ${candidateName(next?.candidate ?? e.candidate)}, is ${critical ? ratio(nextFigure, mine) : ratio(mine, nextFigure)} slower`;
    } else {
      const chosen = candidateName(first?.candidate ?? e.candidate);
      reason =
        best === null
          ? `fallback ${rank - 1}`
          : best === mine
            ? `fallback ${rank - 1}: ties with ${chosen}, later in the fixed order`
            : `fallback ${rank - 1}: predicted ${what} ${critical ? `${ratio(mine, best)} of` : `${ratio(best, mine)} below`} ${chosen}'s`;
    }
    if (e.caveat !== null) reason += `; ${e.caveat}`;
    verdicts.set(e.candidate, { candidate: e.candidate, prediction: e.prediction, rank, reason });
  });
  for (const e of entries) {
    if (e.excluded === undefined) continue;
    verdicts.set(e.candidate, {
      candidate: e.candidate,
      prediction: e.prediction,
      excluded: e.excluded,
      reason: e.excluded,
    });
  }
  const ordered = [...viable, ...entries.filter((e) => e.excluded !== undefined)];
  return {
    ranked: viable.map((e) => e.candidate),
    verdicts: ordered.map((e) => verdicts.get(e.candidate) as Verdict),
    basis: "measured",
    result: stored.path,
  };
}

/** The mechanisms the selector maps candidates to. */
const SELECTABLE_MECHANISMS = new Set(ALL_CANDIDATES.map(mechanismOf));

/** The result has at least one successful run of a mechanism the selector uses. */
export function measuresFable(doc: ResultFile): boolean {
  return doc.runs.some((r) => r.status === "ok" && SELECTABLE_MECHANISMS.has(r.mechanism));
}

/** This machine, as results name it. */
export interface ThisMachine {
  readonly topology: Topology;
  readonly hardwareKey: string;
}

export function thisMachine(): ThisMachine {
  const topology = readTopology();
  return { topology, hardwareKey: hardwareKey(arch(), topology, readEnvironment()) };
}

export interface MeasuredSelectorOptions {
  /** The results directory (default: the user's, stored-results.ts). */
  readonly dir?: string;
  /** This machine's topology and hardware key (default: read from sysfs and procfs). */
  readonly machine?: ThisMachine;
  /** Where skipped files and calibration are reported (default: stderr). */
  readonly log?: (line: string) => void;
  /** false: never calibrate; otherwise how (tests shorten it). Default: calibrate, unless FABLE_CALIBRATION=off. */
  readonly calibration?: false | CalibrationOptions;
  /**
   * When another process holds the calibration lock, how long to wait before trying again if no
   * result has come (default 15 s: longer than the lock takes to go stale when its holder died).
   */
  readonly retryBusyMs?: number;
  /** How often, at most, to look for new results (default 1 s; 0: at every selection). */
  readonly rescanMs?: number;
}

/** The Selector built from this machine's bench results. */
export class MeasuredSelector implements Selector {
  readonly #dir: string;
  readonly #machine: ThisMachine;
  readonly #log: (line: string) => void;
  readonly #calibrationOptions: false | CalibrationOptions;
  readonly #cache = new Map<string, StoredResult | SkippedFile>();
  readonly #reported = new Set<string>();
  /** The directory's mtime at the last scan; undefined before the first. */
  #dirStamp: number | null | undefined;
  #checkedAt = 0;
  readonly #rescanMs: number;
  #current: StoredResult | null = null;
  #calibration: Calibration | null = null;
  #calibrated: CalibrationOutcome | null = null;
  #closed = false;
  /** Selections by request shape (see select()). */
  readonly #answers = new Map<string, Selection>();
  #retry: NodeJS.Timeout | undefined;
  readonly #retryMs: number;

  constructor(options: MeasuredSelectorOptions = {}) {
    this.#dir = options.dir ?? resultsDir();
    this.#machine = options.machine ?? thisMachine();
    this.#log = options.log ?? ((line) => process.stderr.write(`fable selection: ${line}\n`));
    this.#calibrationOptions = options.calibration ?? (process.env["FABLE_CALIBRATION"] === "off" ? false : {});
    this.#retryMs = options.retryBusyMs ?? 15_000;
    this.#rescanMs = options.rescanMs ?? 1000;
    this.#refresh();
  }

  /** The result in use, if any. */
  get result(): StoredResult | null {
    this.#refresh();
    return this.#current;
  }

  /** Settles when the running calibration is over (immediately when none runs). */
  async calibrated(): Promise<CalibrationOutcome | null> {
    await this.#calibration?.outcome;
    return this.#calibrated;
  }

  select(request: SelectionRequest): Selection {
    this.#refresh();
    if (this.#current === null) return defaultOrderSelection(request);
    // Connect-by-name waits for this: a request of the same shape gets the same answer, remembered.
    const t = this.#machine.topology;
    const key = JSON.stringify([
      this.#current.path,
      request.requirements,
      request.offered,
      cpusOf(t, request.listener),
      cpusOf(t, request.connector),
    ]);
    let selection = this.#answers.get(key);
    if (selection === undefined) {
      selection = measuredSelection(this.#current, t, request);
      if (this.#answers.size >= 1024) this.#answers.clear();
      this.#answers.set(key, selection);
    }
    return selection;
  }

  describe(): string {
    this.#refresh();
    if (this.#current !== null) {
      const doc = this.#current.doc;
      return `measured: ${this.#current.path} (${doc.createdAt}, hardware key ${doc.machine.hardwareKey})`;
    }
    const base = `fixed order: no result of this machine (hardware key ${this.#machine.hardwareKey}) measuring fable's transports in ${this.#dir}`;
    if (this.#calibration !== null) {
      return `${base}; calibrating since ${this.#calibration.startedAt.toISOString()} (pid ${this.#calibration.pid ?? "starting"})`;
    }
    const o = this.#calibrated;
    if (o === null) return this.#calibrationOptions === false ? `${base}; calibration is off` : base;
    if (o.kind === "busy") return `${base}; another calibration holds ${o.lock}, its result is used when it is kept`;
    if (o.kind === "failed") return `${base}; calibration failed: ${o.reason}`;
    if (o.kind === "kept") return `${base}; the calibration's result ${o.path} has no usable run`;
    return `${base}; calibration stopped`;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#calibration?.stop();
  }

  /** Rescans the directory when it changed (kept results are never rewritten, only added). */
  #refresh(force = false): void {
    const now = Date.now();
    if (!force && this.#dirStamp !== undefined && now - this.#checkedAt < this.#rescanMs) return;
    this.#checkedAt = now;
    let stamp: number | null;
    try {
      stamp = statSync(this.#dir).mtimeMs;
    } catch {
      stamp = null;
    }
    if (!force && stamp === this.#dirStamp && stamp !== null) return;
    this.#dirStamp = stamp;
    const { results, skipped } = readStoredResults(this.#dir, this.#cache);
    for (const s of skipped) {
      if (this.#reported.has(s.path)) continue;
      this.#reported.add(s.path);
      this.#log(`skipped ${s.path}: ${s.reason}`);
    }
    const mine = results.filter((r) => r.doc.machine.hardwareKey === this.#machine.hardwareKey);
    const usable = mine.filter((r) => measuresFable(r.doc));
    // Newest first by creation time; the file name (time, then content hash) breaks ties.
    usable.sort((a, b) => b.doc.createdAt.localeCompare(a.doc.createdAt) || b.path.localeCompare(a.path));
    const next = usable[0] ?? null;
    if (next !== null && next.path !== this.#current?.path) this.#log(`using ${next.path}`);
    this.#current = next;
    if (next === null) this.#maybeCalibrate();
  }

  #maybeCalibrate(): void {
    if (this.#calibrationOptions === false || this.#calibration !== null || this.#calibrated !== null) return;
    if (this.#closed) return;
    const calibration = new Calibration(this.#dir, this.#calibrationOptions);
    this.#calibration = calibration;
    this.#log(`no result of this machine in ${this.#dir}: calibrating fable's transports in the background`);
    void calibration.outcome.then((outcome) => {
      this.#calibration = null;
      this.#calibrated = outcome;
      if (outcome.kind === "kept") this.#log(`calibration kept ${outcome.path} after ${outcome.ms} ms`);
      else if (outcome.kind === "busy") this.#log(`another calibration is running (lock ${outcome.lock})`);
      else if (outcome.kind === "failed") this.#log(`calibration failed: ${outcome.reason}`);
      if (this.#closed) return;
      this.#refresh(true);
      if (outcome.kind === "busy") {
        // The other one's result is picked up when it is kept. If its holder died instead, the lock
        // goes stale: try again then, unless a result has come meanwhile.
        this.#retry = setTimeout(() => {
          this.#calibrated = null;
          this.#refresh(true);
        }, this.#retryMs);
        this.#retry.unref();
      }
    });
  }
}

/** The factory `fable daemon` uses: a selector over this user's results of this machine. */
export function createMeasuredSelector(options: MeasuredSelectorOptions = {}): MeasuredSelector {
  return new MeasuredSelector(options);
}
