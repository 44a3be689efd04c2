/**
 * What `fable bench` says while it runs, on stderr. On a terminal: the progress bar (estimated time,
 * the round running). Anywhere else (a file, a CI log): one line at the start (tests, rounds, the
 * estimate), one per pass over the tests, and one short line per mechanism whose rounds are all done,
 * so a log never sits silent for minutes. Nothing here touches stdout, which carries the summary or the JSON document.
 */
import { SingleBar } from "cli-progress";
import { type BenchConfig, type BenchHooks, estimateMs, NO_SAMPLES, planTests } from "../bench/orchestrator.js";

export interface Progress {
  hooks: BenchHooks;
  stop(): void;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

/** The estimate of a whole run: every round's budgets and probe start-up, and the sentinel's readings. */
export function estimateRunMs(config: BenchConfig): number {
  const rounds = planTests(config).reduce((sum, t) => sum + estimateMs(t, config) * config.rounds, 0);
  const s = config.sentinel;
  // Readings every `everyMs` at most, each a short engine probe.
  const sentinel = s.cpus === null ? 0 : (rounds / Math.max(s.everyMs, 1)) * (s.budgetMs + s.warmupMs + 60);
  return rounds + Math.min(sentinel, rounds);
}

export function startProgress(
  config: BenchConfig,
  tty: boolean,
  write: (line: string) => void = (l) => process.stderr.write(l + "\n"),
): Progress {
  const tests = planTests(config);
  const started = Date.now();
  if (tty) {
    const bar = new SingleBar({
      format: "{bar} {percentage}% | ETA {eta_formatted} | {value}/{total} ms | {test}",
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    });
    let total = estimateRunMs(config);
    let doneMs = 0;
    bar.start(total, 0, { test: "" });
    return {
      hooks: {
        onRoundStart: (r) => {
          const t = r.test;
          const what = `${t.mechanism.name} ${t.mode} ${t.size} B cpus ${t.cpus.join("-")}`;
          bar.update(doneMs, {
            test: `${r.slot + 1}/${r.total} ${what} round ${r.round + 1}${r.rerun ? " (re-run)" : ""}`,
          });
        },
        onRoundEnd: (r) => {
          doneMs += estimateMs(r.test, config);
          bar.update(Math.min(doneMs, total));
        },
        onReruns: (count) => {
          total = Math.max(total, doneMs) + count * (config.budgetMs + config.warmupMs + 150);
          bar.setTotal(total);
        },
      },
      stop: () => bar.stop(),
    };
  }

  // Not a terminal: a line at the start and one per finished mechanism.
  const mechanisms = [...new Set(tests.map((t) => t.mechanism.name))];
  const left = new Map(mechanisms.map((m) => [m, tests.filter((t) => t.mechanism.name === m).length * config.rounds]));
  const failed = new Map<string, number>();
  let done = 0;
  const sentinel = config.sentinel.cpus === null ? "no sentinel" : `sentinel on CPUs ${config.sentinel.cpus.join("-")}`;
  write(
    `fable bench: ${tests.length} tests of ${mechanisms.length} mechanisms x ${config.rounds} rounds ` +
      `(${tests.length * config.rounds} probe runs), about ${duration(estimateRunMs(config))}; ${sentinel}`,
  );
  let pass = 0;
  return {
    hooks: {
      onRoundStart: (r) => {
        // Every mechanism ends in the last pass (rounds are interleaved): the passes mark progress before it.
        if (!r.rerun && r.round > pass) {
          pass = r.round;
          write(`  pass ${pass} of ${config.rounds} done (${duration(Date.now() - started)})`);
        }
      },
      onRoundEnd: (r, run) => {
        if (r.rerun) return;
        const name = r.test.mechanism.name;
        // A round that measured nothing is re-run later; any other failure fails the test.
        const hard = run.status === "failed" && run.error.code !== NO_SAMPLES;
        if (hard) failed.set(name, (failed.get(name) ?? 0) + 1);
        const n = (left.get(name) ?? 0) - 1;
        left.set(name, n);
        // A failed round skips the test's other rounds: the plan's count shrinks by them.
        if (n > 0 && hard) left.set(name, n - (config.rounds - 1 - r.round));
        if ((left.get(name) ?? 0) <= 0 && left.has(name)) {
          left.delete(name);
          done++;
          const f = failed.get(name) ?? 0;
          write(
            `  ${name}: done${f > 0 ? `, ${f} failed` : ""} (${done}/${mechanisms.length} mechanisms, ${duration(Date.now() - started)})`,
          );
        }
      },
      onReruns: (count) => write(`  re-running ${count} rounds the sentinel flagged`),
    },
    stop: () => undefined,
  };
}
