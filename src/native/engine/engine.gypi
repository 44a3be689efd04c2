{
  # Paths here are relative to this file (gyp resolves includes that way).
  "sources": [
    "main.c",
    "serve.c",
    "supervisor.c",
    "report.c",
    "json.c",
    "clock.c",
    "errors.c",
    "params.c",
    "util.c",
    "harness.c",
    "mechanisms.c",
    "fdio.c",
    "mech-stream.c",
    "mech-mempipe.c",
    "mech-vmsplice.c",
    "mech-shmem-pipe.c",
    "mech-cacheline.c",
    "mech-futex-wake.c"
  ]
}
