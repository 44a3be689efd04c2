import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, networkInterfaces, tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import {
  CONTAINER_KINDS,
  CPU_FLAGS,
  cpuSlug,
  parseCpuinfo,
  readEnvironment,
  type Environment,
} from "../../src/bench/environment.js";
import { cleanupLegacyArchives, extractLegacyArchive, legacyLogArchives } from "../kit/legacy.js";

after(cleanupLegacyArchives);

const scratch = mkdtempSync(join(tmpdir(), "fable-environment-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let roots = 0;

/** A fresh root holding the files given (paths relative to it), with proc/, sys/, etc/ below it. */
function root(files: Record<string, string>): string {
  const dir = join(scratch, `r${roots++}`);
  mkdirSync(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function readRoot(dir: string, env: Record<string, string> = {}): Environment {
  return readEnvironment({
    procDir: join(dir, "proc"),
    sysDir: join(dir, "sys"),
    etcDir: join(dir, "etc"),
    rootDir: dir,
    env,
  });
}

const UNKNOWN_CPU = { vendor: null, model: null, family: null, modelNumber: null, stepping: null, flags: [] };

async function legacyCpuinfo(id: string): Promise<string> {
  return readFileSync(join(await extractLegacyArchive(id, "logs"), "logs", "cpuinfo"), "utf8");
}

describe("parseCpuinfo on legacy machines", () => {
  test("tmpfCBrYh: Xeon E5620, allow-listed flags only", async () => {
    assert.deepEqual(parseCpuinfo(await legacyCpuinfo("tmpfCBrYh")), {
      vendor: "GenuineIntel",
      model: "Intel(R) Xeon(R) CPU E5620 @ 2.40GHz",
      family: 6,
      modelNumber: 44,
      stepping: 2,
      flags: ["tsc", "constant_tsc", "nonstop_tsc", "rdtscp", "ht", "monitor", "sse4_2"],
    });
  });

  test("tmpSPgfjL: AMD Opteron 6168", async () => {
    const cpu = parseCpuinfo(await legacyCpuinfo("tmpSPgfjL"));
    assert.deepEqual(
      [cpu.vendor, cpu.model, cpu.family, cpu.modelNumber, cpu.stepping],
      ["AuthenticAMD", "AMD Opteron(tm) Processor 6168", 16, 9, 1],
    );
    assert.ok(!cpu.flags.includes("hypervisor"));
    assert.ok(cpu.flags.includes("nonstop_tsc"));
  });

  test("tmpS4y2va: a KVM guest says hypervisor", async () => {
    const cpu = parseCpuinfo(await legacyCpuinfo("tmpS4y2va"));
    assert.equal(cpu.model, "QEMU Virtual CPU version (cpu64-rhel6)");
    assert.deepEqual(cpu.flags, ["tsc", "hypervisor"]);
  });

  test("tmpwoNtJN: an EC2 Xen guest, with its instance label in the model name", async () => {
    const cpu = parseCpuinfo(await legacyCpuinfo("tmpwoNtJN"));
    assert.equal(cpu.model, "[ec2-c1.xlarge] Intel(R) Xeon(R) CPU E5410 @ 2.33GHz");
    assert.ok(cpu.flags.includes("hypervisor"));
    assert.equal(cpuSlug(cpu.model), "intel-xeon-e5410");
  });

  test("tmp1Fpcu3: an old VirtualBox guest does not set the hypervisor flag", async () => {
    const cpu = parseCpuinfo(await legacyCpuinfo("tmp1Fpcu3"));
    assert.equal(cpu.model, "Intel(R) Core(TM) i5-2557M CPU @ 1.70GHz");
    assert.ok(!cpu.flags.includes("hypervisor"));
  });

  test("every archive's cpuinfo gives a model and only allow-listed flags", async () => {
    for (const archive of legacyLogArchives()) {
      const cpu = parseCpuinfo(await legacyCpuinfo(archive));
      assert.notEqual(cpu.model, null, archive);
      assert.ok(
        cpu.flags.every((f) => CPU_FLAGS.includes(f)),
        archive,
      );
    }
  });

  test("readEnvironment over a legacy machine's cpuinfo and meminfo", async () => {
    const logs = join(await extractLegacyArchive("tmpSPgfjL", "logs"), "logs");
    const dir = root({});
    mkdirSync(join(dir, "proc"));
    copyFileSync(join(logs, "cpuinfo"), join(dir, "proc", "cpuinfo"));
    copyFileSync(join(logs, "meminfo"), join(dir, "proc", "meminfo"));
    const env = readRoot(dir);
    assert.equal(env.memoryGiB, 126); // MemTotal: 132131708 kB
    assert.equal(env.cpu.model, "AMD Opteron(tm) Processor 6168");
    assert.deepEqual(env.virtualization, { hypervisor: false, vendor: null });
  });
});

describe("parseCpuinfo", () => {
  test("reads the first processor only, and tolerates what is not x86", () => {
    const text = [
      "processor\t: 0",
      "model name\t: Foo   Bar",
      "flags\t\t: tsc hypervisor sse2 vmx",
      "",
      "processor\t: 1",
      "model name\t: Other",
      "flags\t\t: avx2",
    ].join("\n");
    assert.deepEqual(parseCpuinfo(text), {
      vendor: null,
      model: "Foo Bar",
      family: null,
      modelNumber: null,
      stepping: null,
      flags: ["tsc", "hypervisor"],
    });
    assert.deepEqual(parseCpuinfo(""), UNKNOWN_CPU);
    const power = parseCpuinfo("processor\t: 0\ncpu\t\t: POWER9 (raw)\nmodel\t\t: IBM pSeries\n");
    assert.equal(power.modelNumber, null);
  });
});

describe("cpuSlug", () => {
  const cases: [string | null, string][] = [
    ["Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "intel-xeon-e5-2670"],
    ["Intel(R) Xeon(R) CPU           E5620  @ 2.40GHz", "intel-xeon-e5620"],
    ["Intel(R) Core(TM) i7-4930K CPU @ 3.40GHz", "intel-core-i7-4930k"],
    ["Intel(R) Core(TM)2 Quad CPU    Q6600  @ 2.40GHz", "intel-core2-quad-q6600"],
    ["Intel(R) Core(TM) i5 CPU       M 580  @ 2.67GHz", "intel-core-i5-m-580"],
    ["Intel(R) Xeon(R) CPU E3-1220 V2 @ 3.10GHz", "intel-xeon-e3-1220-v2"],
    ["AMD Opteron(tm) Processor 6168", "amd-opteron-6168"],
    ["AMD Opteron(tm) Processor 4234                  ", "amd-opteron-4234"],
    ["AMD Phenom(tm) II X6 1100T Processor", "amd-phenom-ii-x6-1100t"],
    ["[ec2-c1.xlarge] Intel(R) Xeon(R) CPU           E5410  @ 2.33GHz", "intel-xeon-e5410"],
    ["QEMU Virtual CPU version (cpu64-rhel6)", "qemu-virtual-version-cpu64-rhel6"],
    ["Intel(R) Pentium(R) 4 CPU 3.00GHz", "intel-pentium-4"],
    ["AMD EPYC 7B13 64-Core Processor", "amd-epyc-7b13-64-core"],
    ["12th Gen Intel(R) Core(TM) i7-12700K", "12th-gen-intel-core-i7-12700k"],
    ["Intel(R) Xeon(R) Processor", "intel-xeon"],
    ["CPU @ 2.0GHz", "unknown-cpu"],
    ["", "unknown-cpu"],
    [null, "unknown-cpu"],
  ];
  for (const [model, slug] of cases) {
    test(`${JSON.stringify(model)} → ${slug}`, () => {
      assert.equal(cpuSlug(model), slug);
      assert.match(cpuSlug(model), /^[a-z0-9]+(-[a-z0-9]+)*$/);
    });
  }
});

describe("readEnvironment on crafted roots", () => {
  test("missing files give nulls (and memory 0)", () => {
    const env = readRoot(root({}));
    assert.deepEqual(env.virtualization, { hypervisor: false, vendor: null });
    assert.equal(env.container, null);
    assert.deepEqual(env.os, { id: null, versionId: null });
    assert.deepEqual(env.cpu, UNKNOWN_CPU);
    assert.equal(env.memoryGiB, 0);
    assert.equal(env.governor, null);
    assert.equal(env.smt, null);
    assert.equal(env.clocksource, null);
    assert.equal(env.runtime.node, process.versions.node);
  });

  test("a docker container, its OS, governor, SMT and clocksource", () => {
    const env = readRoot(
      root({
        ".dockerenv": "",
        "etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        "sys/devices/system/cpu/smt/control": "off\n",
        "sys/devices/system/clocksource/clocksource0/current_clocksource": "tsc\n",
      }),
    );
    assert.equal(env.container, "docker");
    assert.deepEqual(env.os, { id: "debian", versionId: "12" });
    assert.deepEqual([env.governor, env.smt, env.clocksource], ["performance", "off", "tsc"]);
  });

  test("containers from each kind of marker", () => {
    const cases: [Record<string, string>, Record<string, string>, string][] = [
      [{ "run/.containerenv": "" }, {}, "podman"],
      [{ "run/systemd/container": "systemd-nspawn\n" }, {}, "systemd-nspawn"],
      [{ "run/systemd/container": "lxc\n" }, {}, "lxc"],
      [{ "run/systemd/container": "something-new\n" }, {}, "unknown"],
      [{ "proc/1/cgroup": "0::/kubepods/burstable/pod1/abc\n" }, {}, "kubernetes"],
      [{ "proc/1/cgroup": "12:pids:/docker/0123abcd\n" }, {}, "docker"],
      [{ "proc/1/cgroup": "0::/lxc.payload.web\n" }, {}, "lxc"],
      [
        { "proc/self/mountinfo": "1 0 0:1 / /etc/hosts rw - ext4 /var/lib/docker/containers/x/hosts rw\n" },
        {},
        "docker",
      ],
      [{ "proc/sys/kernel/osrelease": "5.15.90.1-microsoft-standard-WSL2\n" }, {}, "wsl"],
      [{ ".dockerenv": "" }, { KUBERNETES_SERVICE_HOST: "10.96.0.1" }, "kubernetes"],
    ];
    for (const [files, env, kind] of cases) {
      const read = readRoot(root(files), env);
      assert.equal(read.container, kind, JSON.stringify(files));
      assert.ok(CONTAINER_KINDS.includes(kind));
      assert.ok(!JSON.stringify(read).includes("10.96.0.1"));
    }
  });

  test("hypervisor vendors from known names only; private DMI fields never read into the result", () => {
    const guest = { "proc/cpuinfo": "processor\t: 0\nflags\t\t: tsc hypervisor\n" };
    const dmi = (fields: Record<string, string>) =>
      Object.fromEntries(Object.entries(fields).map(([k, v]) => [`sys/class/dmi/id/${k}`, `${v}\n`]));
    const vendorOf = (files: Record<string, string>) => readRoot(root({ ...guest, ...files })).virtualization.vendor;
    assert.equal(vendorOf(dmi({ sys_vendor: "VMware, Inc.", product_name: "VMware Virtual Platform" })), "VMware");
    assert.equal(
      vendorOf(dmi({ sys_vendor: "Microsoft Corporation", product_name: "Virtual Machine" })),
      "Microsoft Hyper-V",
    );
    assert.equal(vendorOf(dmi({ sys_vendor: "innotek GmbH", product_name: "VirtualBox" })), "VirtualBox");
    assert.equal(vendorOf(dmi({ sys_vendor: "Amazon EC2", product_name: "m5.large" })), "Amazon EC2");
    assert.equal(vendorOf(dmi({ sys_vendor: "Google", product_name: "Google Compute Engine" })), "Google");
    assert.equal(vendorOf(dmi({ sys_vendor: "QEMU", product_name: "Standard PC (Q35 + ICH9, 2009)" })), "QEMU");
    assert.equal(
      vendorOf({
        ...dmi({ sys_vendor: "QEMU" }),
        "sys/devices/system/clocksource/clocksource0/available_clocksource": "tsc kvm-clock acpi_pm\n",
      }),
      "KVM",
    );
    assert.equal(vendorOf({ "sys/hypervisor/type": "xen\n" }), "Xen");
    assert.equal(vendorOf({}), "unknown");
    const secret = "SERIAL-0123456789";
    const env = readRoot(
      root({
        ...guest,
        ...dmi({
          sys_vendor: "Acme Clouds Ltd",
          product_name: "Acme VM",
          product_serial: secret,
          product_uuid: secret,
        }),
        "etc/machine-id": `${secret}\n`,
        "etc/hostname": `${secret}\n`,
        "proc/cmdline": `root=/dev/sda1 ${secret}\n`,
      }),
    );
    assert.equal(env.virtualization.vendor, "unknown");
    const json = JSON.stringify(env);
    assert.ok(!json.includes(secret) && !json.includes("Acme"), json);
  });

  test("a bare-metal machine from a cloud vendor is no guest", () => {
    const env = readRoot(root({ "sys/class/dmi/id/sys_vendor": "Amazon EC2\n", "proc/cpuinfo": "flags\t: tsc\n" }));
    assert.deepEqual(env.virtualization, { hypervisor: false, vendor: null });
  });

  test("memory rounds to GiB, or to half GiB under 4 GiB", () => {
    const memory = (kb: number) => readRoot(root({ "proc/meminfo": `MemTotal:       ${kb} kB\n` })).memoryGiB;
    assert.equal(memory(24684084), 24);
    assert.equal(memory(10253840), 10);
    assert.equal(memory(3879731), 3.5); // 3.70 GiB
    assert.equal(memory(2052820), 2); // 1.96 GiB
    assert.equal(memory(300000), 0.5);
  });

  test("values that are not plain tokens are dropped", () => {
    const env = readRoot(
      root({
        "etc/os-release": "ID=\"some distro\"\nVERSION_ID='1 2'\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "../../etc\n",
      }),
    );
    assert.deepEqual(env.os, { id: null, versionId: null });
    assert.equal(env.governor, null);
  });
});

describe("readEnvironment on this machine", () => {
  const env = readEnvironment();
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  let clocksources = "";
  try {
    clocksources = readFileSync("/sys/devices/system/clocksource/clocksource0/available_clocksource", "utf8");
  } catch {
    // no clocksource information: not a KVM guest we can recognise
  }
  const kvm = /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo) && /\bkvm-clock\b/.test(clocksources);

  test("a KVM guest is recognised", { skip: !kvm && "not a KVM guest" }, () => {
    assert.deepEqual(env.virtualization, { hypervisor: true, vendor: "KVM" });
  });

  test("the structured fields are filled", () => {
    assert.equal(env.kernel.release.length > 0, true);
    assert.notEqual(env.cpu.model, null);
    assert.ok(env.memoryGiB > 0);
    assert.deepEqual(env.runtime, { node: process.versions.node, v8: process.versions.v8, uv: process.versions.uv });
  });

  test("holds no hostname, user name or network address", () => {
    const json = JSON.stringify(env);
    const strings: string[] = [];
    const collect = (v: unknown): void => {
      if (typeof v === "string") strings.push(v);
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v !== null && typeof v === "object") Object.values(v).forEach(collect);
    };
    collect(env);
    const words = new Set(strings.flatMap((s) => s.toLowerCase().split(/[^a-z0-9]+/)));
    // Short names ("vm", "ci") occur inside ordinary words: for them, whole words only.
    const absent = (secret: string) => {
      if (secret.length >= 5) assert.ok(!json.toLowerCase().includes(secret.toLowerCase()), `${secret} in ${json}`);
      else assert.ok(!words.has(secret.toLowerCase()), `${secret} in ${json}`);
    };
    absent(hostname());
    absent(userInfo().username);
    for (const addresses of Object.values(networkInterfaces())) {
      for (const a of addresses ?? []) {
        assert.ok(!json.includes(a.address), `${a.address} in ${json}`);
        assert.ok(!json.includes(a.mac), `${a.mac} in ${json}`);
      }
    }
  });
});
