/* global URL */
// The machine a benchmark script ran on, in one line (and the placement of the CPUs it used):
// every script that prints figures prints this first.
const dist = (p) => new URL(`../../dist/src/${p}`, import.meta.url).href;

/** Prints the machine line, and the CPU pair's line when `cpus` is given. */
export async function printMachine(cpus) {
  const { readEnvironment } = await import(dist("bench/environment.js"));
  const { readTopology, placementClass } = await import(dist("bench/topology.js"));
  const env = readEnvironment();
  const topo = readTopology();
  const virt = env.virtualization.hypervisor
    ? `virtualised (${env.virtualization.vendor ?? "unknown hypervisor"})`
    : "bare metal";
  console.log(
    `machine: ${env.cpu.model ?? "unknown CPU"}; ${topo.packages} package(s), ${topo.cores} core(s), ` +
      `${topo.cpus.filter((c) => c.online).length} CPU(s), ${topo.threadsPerCore} thread(s)/core; ${virt}; ` +
      `container ${env.container ?? "none"}; kernel ${env.kernel.release}; Node ${env.runtime.node}`,
  );
  if (cpus === undefined) return;
  const [a, b] = cpus;
  console.log(
    `CPUs ${a},${b}: ${placementClass(topo, a, b)}; governor ${env.governor ?? "n/a"}; ` +
      `clocksource ${env.clocksource ?? "n/a"}`,
  );
}
