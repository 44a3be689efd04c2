{
  # One build, two products: the N-API addon loaded by src/native/load.ts, and the
  # bench engine executable driven by src/bench/. Both are plain C and build offline.
  "targets": [
    {
      "target_name": "fable_native",
      "sources": ["src/native/addon/addon.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    },
    {
      "target_name": "fable-engine",
      "type": "executable",
      "includes": ["src/native/engine/engine.gypi"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "defines": ["_GNU_SOURCE"],
      "libraries": ["-lm"]
    }
  ]
}
