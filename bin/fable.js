#!/usr/bin/env node
// The `fable` command: runs the compiled CLI (npm install compiles it via the prepare script).
import "../dist/src/cli/main.js";
