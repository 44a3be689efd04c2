import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultOrderSelection } from "../../src/daemon/default-order.js";
import {
  candidateName,
  CHURN_FLOWS_PER_SECOND,
  type Requirements,
  type SelectionRequest,
} from "../../src/daemon/selector.js";

function request(
  requirements: Partial<Requirements>,
  cpus: [number[], number[]] = [
    [0, 1],
    [0, 1],
  ],
): SelectionRequest {
  return {
    listener: { pid: 1, allowedCpus: cpus[0], currentCpu: null },
    connector: { pid: 2, allowedCpus: cpus[1], currentCpu: null },
    requirements: { latency: "critical", spin: true, trust: "trusted", sizes: [], ...requirements },
    offered: ["shm", "unix", "tcp"],
  };
}

test("default order: critical with spinning allowed puts the spinning ring first", () => {
  const s = defaultOrderSelection(request({}));
  assert.equal(s.basis, "default-order");
  assert.deepEqual(s.ranked.map(candidateName), ["shm:spin", "shm:adaptive", "shm:block", "unix", "tcp"]);
  assert.equal(s.verdicts.find((v) => v.rank === 1)?.candidate.wait, "spin");
});

test("default order: spin: false leaves only blocking ends, and says why", () => {
  const s = defaultOrderSelection(request({ spin: false, latency: "bulk" }));
  assert.deepEqual(s.ranked.map(candidateName), ["shm:block", "unix", "tcp"]);
  const spin = s.verdicts.find((v) => candidateName(v.candidate) === "shm:spin");
  assert.match(spin?.excluded ?? "", /spin: false/);
  assert.equal(spin?.rank, undefined);
});

test("default order: two ends confined to one CPU exclude spinning; shm not offered is excluded", () => {
  const s = defaultOrderSelection({ ...request({}, [[1], [1]]), offered: ["unix", "tcp"] });
  assert.deepEqual(s.ranked.map(candidateName), ["unix", "tcp"]);
  const adaptive = s.verdicts.find((v) => candidateName(v.candidate) === "shm:adaptive");
  assert.match(adaptive?.excluded ?? "", /does not offer shm/);
  const sameCpu = defaultOrderSelection(request({}, [[1], [1]]));
  assert.deepEqual(sameCpu.ranked.map(candidateName), ["shm:block", "unix", "tcp"]);
  assert.match(sameCpu.verdicts.find((v) => v.candidate.wait === "spin")?.excluded ?? "", /same one CPU/);
});

test("default order: a listener taking 100+ new flows a second gets no spinning ends; 99 still does", () => {
  const busy = defaultOrderSelection({ ...request({}), listenerNewFlowsPerSecond: CHURN_FLOWS_PER_SECOND });
  assert.deepEqual(busy.ranked.map(candidateName), ["shm:block", "unix", "tcp"]);
  for (const wait of ["spin", "adaptive"]) {
    const v = busy.verdicts.find((x) => x.candidate.wait === wait);
    assert.match(v?.excluded ?? "", /took 100 new flows in the last second/);
  }
  const calm = defaultOrderSelection({ ...request({}), listenerNewFlowsPerSecond: CHURN_FLOWS_PER_SECOND - 1 });
  assert.equal(candidateName(calm.ranked[0] ?? { transport: "tcp", wait: null }), "shm:spin");
});
